package detect

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// t0 is the start of every generated stream: a fixed instant, never "now".
var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// genPrincipal describes one generated principal's stationary behaviour.
type genPrincipal struct {
	Key       string
	Account   string
	Type      ingest.PrincipalType
	Rate      float64 // events per minute (Poisson)
	ErrProb   float64 // chance a call fails
	S3Prob    float64 // chance a call is a GetObject with egress
	S3Max     uint64  // egress bytes of such a call: uniform in [0, S3Max)
	Flow      bool    // a flow-log principal: every event is an egress flow
	FlowMax   uint64  // bytes of a flow: uniform in [0, FlowMax)
	FirstMin  int     // first active minute
	SilentMin int     // from this minute on (if > 0) it makes no background events
}

var genActions = []string{
	"sts.amazonaws.com:GetCallerIdentity",
	"ec2.amazonaws.com:DescribeInstances",
	"s3.amazonaws.com:ListBuckets",
	"iam.amazonaws.com:ListRoles",
	"logs.amazonaws.com:PutLogEvents",
}

var genPeers = []netip.Addr{
	netip.MustParseAddr("10.0.1.10"),
	netip.MustParseAddr("10.0.2.20"),
	netip.MustParseAddr("52.94.1.5"),
}

// generator produces a seeded, reproducible stream of events minute by
// minute. Each minute's events are sorted by time and then delivered with a
// random delay of up to Jitter (out of order, but within lateness when
// Jitter < AllowedLateness).
type generator struct {
	rng    *rand.Rand
	ps     []genPrincipal
	Jitter time.Duration
	seq    int
	// Inject is called once per minute to add incident events.
	Inject func(minute int, add func(ingest.Event))
}

func newGenerator(seed uint64, ps []genPrincipal) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ps: ps}
}

func (g *generator) poisson(lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= g.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *generator) id() string {
	g.seq++
	return "ev-" + strconv.Itoa(g.seq)
}

type delivered struct {
	at time.Time
	ev ingest.Event
}

// run generates minutes [0, minutes) and hands every event to fn in delivery order.
func (g *generator) run(minutes int, fn func(*ingest.Event)) {
	var buf, carry []delivered
	for m := 0; m < minutes; m++ {
		buf = append(buf[:0], carry...)
		carry = carry[:0]
		base := t0.Add(time.Duration(m) * time.Minute)
		add := func(ev ingest.Event) {
			at := ev.Time
			if g.Jitter > 0 {
				at = at.Add(time.Duration(g.rng.Int64N(int64(g.Jitter))))
			}
			buf = append(buf, delivered{at: at, ev: ev})
		}
		for i := range g.ps {
			p := &g.ps[i]
			if m < p.FirstMin || (p.SilentMin > 0 && m >= p.SilentMin) {
				continue
			}
			n := g.poisson(p.Rate)
			for range n {
				ev := ingest.Event{
					Time:      base.Add(time.Duration(g.rng.Int64N(int64(time.Minute))) / time.Millisecond * time.Millisecond),
					Principal: ingest.Principal{Key: p.Key, Type: p.Type, Account: p.Account},
					Region:    "us-east-1",
				}
				if p.Flow {
					ev.Source = ingest.SourceVPCFlow
					ev.EgressBytes = 1 + g.rng.Uint64N(p.FlowMax)
					ev.PeerAddr = genPeers[g.rng.IntN(len(genPeers))]
					ev.PeerPort = 443
					ev.Protocol = 6
					ev.Pos = ingest.Position{Name: "flows.log", Partition: -1, Line: int64(g.seq)}
					g.seq++
				} else {
					ev.Source = ingest.SourceCloudTrail
					ev.EventID = g.id()
					ev.Action = genActions[g.rng.IntN(len(genActions))]
					if p.S3Prob > 0 && g.rng.Float64() < p.S3Prob {
						ev.Action = "s3.amazonaws.com:GetObject"
						ev.EgressBytes = g.rng.Uint64N(p.S3Max)
					}
					if p.ErrProb > 0 && g.rng.Float64() < p.ErrProb {
						ev.ErrorCode = "AccessDenied"
						ev.EgressBytes = 0
					}
				}
				add(ev)
			}
		}
		if g.Inject != nil {
			g.Inject(m, add)
		}
		slices.SortStableFunc(buf, func(a, b delivered) int { return a.at.Compare(b.at) })
		// Deliver what is due before the next minute starts; carry the rest.
		next := base.Add(time.Minute)
		for i := range buf {
			if g.Jitter > 0 && !buf[i].at.Before(next) && m < minutes-1 {
				carry = append(carry, buf[i])
				continue
			}
			fn(&buf[i].ev)
		}
	}
}

// poissonPopulation returns n IAM users in one account with the given rate.
func poissonPopulation(n int, account string, rate float64) []genPrincipal {
	ps := make([]genPrincipal, n)
	for i := range ps {
		ps[i] = genPrincipal{
			Key:     "arn:aws:iam::" + account + ":user/u" + strconv.Itoa(i),
			Account: account,
			Type:    ingest.PrincipalIAMUser,
			Rate:    rate,
		}
	}
	return ps
}

// collector gathers emitted alerts; emit is never called concurrently, but
// from different goroutines over time, so the mutex only documents intent.
type collector struct {
	mu     sync.Mutex
	alerts []*Alert
	lines  []byte
}

func (c *collector) emit(a *Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts = append(c.alerts, a)
	c.lines = append(a.AppendJSON(c.lines), '\n')
}

// newTestEngine builds an engine and a store with matching window.
func newTestEngine(t testing.TB, cfg Config, opts ...Option) (*Engine, *baseline.Store, *collector) {
	t.Helper()
	st := baseline.New(baseline.Options{Window: cfg.Window})
	c := &collector{}
	e, err := New(cfg, st, c.emit, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, st, c
}

func ct(at time.Time, key, account, action string) ingest.Event {
	return ingest.Event{
		Time:      at,
		Source:    ingest.SourceCloudTrail,
		Principal: ingest.Principal{Key: key, Type: ingest.PrincipalIAMUser, Account: account},
		Action:    action,
		EventID:   key + "@" + at.Format(time.RFC3339Nano),
	}
}
