package detect

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

const acct = "111111111111"

func TestConfigValidate(t *testing.T) {
	if err := func() error { c := Defaults(); return c.Validate() }(); err != nil {
		t.Fatalf("Defaults() invalid: %v", err)
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		setting string
	}{
		{"window not whole seconds", func(c *Config) { c.Window = 1500 * time.Millisecond }, "window:"},
		{"negative lateness", func(c *Config) { c.AllowedLateness = -time.Second }, "allowed_lateness:"},
		{"zero sigma", func(c *Config) { c.Sigma = 0 }, "sigma:"},
		{"nan sigma", func(c *Config) { c.Sigma = math.NaN() }, "sigma:"},
		{"min sigma", func(c *Config) { c.MinSigma.APIErrors = -1 }, "min_sigma.api_errors:"},
		{"min excess", func(c *Config) { c.MinExcess.EgressBytes = -1 }, "min_excess.egress_bytes:"},
		{"min history", func(c *Config) { c.MinHistory = -1 }, "min_history:"},
		{"cooldown", func(c *Config) { c.Cooldown = -time.Minute }, "cooldown:"},
		{"peer half-life", func(c *Config) { c.PeerHalfLife = -time.Hour }, "peer_half_life:"},
		{"peer windows", func(c *Config) { c.PeerMinWindows = 0 }, "peer_min_windows:"},
		{"peer samples", func(c *Config) { c.PeerMinSamples = -3 }, "peer_min_samples:"},
		{"medium below sigma", func(c *Config) { c.Severity.Medium = 2 }, "severity.medium:"},
		{"high below medium", func(c *Config) { c.Severity.High = 3.5 }, "severity.high:"},
		{"critical below high", func(c *Config) { c.Severity.Critical = 5 }, "severity.critical:"},
		{"parallelism", func(c *Config) { c.Parallelism = 0 }, "parallelism:"},
		{"top k", func(c *Config) { c.TopK = 4 }, "top_k:"},
		{"top n", func(c *Config) { c.TopN = 20 }, "top_n:"},
		{"evidence", func(c *Config) { c.Evidence = 0 }, "evidence:"},
		{"batch size", func(c *Config) { c.BatchSize = 0 }, "batch_size:"},
		{"empty rule", func(c *Config) { c.Suppress = []SuppressRule{{}} }, "suppress[0]:"},
		{"bad glob", func(c *Config) { c.Suppress = []SuppressRule{{Account: "1"}, {Principal: "arn:[a"}} }, "suppress[1].principal:"},
		{"bad metric", func(c *Config) { c.Suppress = []SuppressRule{{Metric: "api_call"}} }, "suppress[0].metric:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), ": "+tt.setting) {
				t.Errorf("error %q does not name %q", err, tt.setting)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Defaults(), nil, nil); !errors.Is(err, ErrNilStore) {
		t.Errorf("nil store: %v", err)
	}
	st := baseline.New(baseline.Options{Window: 5 * time.Minute})
	if _, err := New(Defaults(), st, nil); !errors.Is(err, ErrWindowMismatch) {
		t.Errorf("window mismatch: %v", err)
	}
	// The zero Config gets defaults for the settings where zero is invalid.
	e, err := New(Config{}, baseline.New(baseline.Options{}), nil)
	if err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if c := e.Config(); c.Window != time.Minute || c.Sigma != 3 || c.TopK != 12 {
		t.Errorf("zero config not filled: %+v", c)
	}
	e.Close()
	e.Close() // idempotent
}

func TestWatermarkAndLateness(t *testing.T) {
	cfg := Defaults()
	cfg.Parallelism = 2
	var late []string
	e, st, _ := newTestEngine(t, cfg, WithLateHandler(func(ev *ingest.Event) { late = append(late, ev.EventID) }))
	key := "arn:aws:iam::" + acct + ":user/alice"
	w0 := t0.Unix() / 60
	p := func(off time.Duration) {
		ev := ct(t0.Add(off), key, acct, "sts.amazonaws.com:GetCallerIdentity")
		e.Process(&ev)
	}
	p(30 * time.Second) // w0
	p(50 * time.Second) // w0
	p(5*time.Minute + 59*time.Second)
	if got := e.Stats().ClosedThrough; !got.Equal(t0) {
		t.Fatalf("watermark 00:59: closed through %s, want %s (window 0 still open)", got, t0)
	}
	p(20 * time.Second) // out of order, within lateness: merged into w0
	p(6 * time.Minute)  // watermark 01:00 passes the end of w0
	if got := e.Stats().ClosedThrough; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("watermark 01:00: closed through %s, want %s", got, t0.Add(time.Minute))
	}
	p(40 * time.Second) // late: w0 has closed
	p(6*time.Minute + 10*time.Second)
	e.Flush()

	s := e.Stats()
	if s.Late != 1 || len(late) != 1 || !strings.HasSuffix(late[0], "00:00:40Z") {
		t.Errorf("late: stats %d, callback %v; want the 00:00:40 event once", s.Late, late)
	}
	if s.Events != 6 {
		t.Errorf("events %d, want 6", s.Events)
	}
	if s.WindowsClosed != 3 {
		t.Errorf("windows closed %d, want 3 (w0, w5, w6)", s.WindowsClosed)
	}
	// The baseline must be exactly w0=3, w5=1, w6=2 with idle zeros between:
	// the late event was not merged, the out-of-order one was.
	var want baseline.Stats
	d := st.Decay()
	want.Observe(d, w0, 3)
	want.Observe(d, w0+5, 1)
	want.Observe(d, w0+6, 2)
	got, _, ok := st.Get(key, w0+7)
	if !ok || got[baseline.APICalls] != want {
		t.Errorf("baseline %+v, want %+v", got[baseline.APICalls], want)
	}
	// After Flush the windows it closed are late too.
	p(6*time.Minute + 20*time.Second)
	if e.Stats().Late != 2 {
		t.Errorf("event after Flush in a flushed window not late")
	}
}

func TestIgnoredEvents(t *testing.T) {
	e, _, _ := newTestEngine(t, Defaults())
	evs := []ingest.Event{
		{Time: t0, Source: ingest.SourceCloudTrail},                                                       // no key
		{Time: t0, Source: ingest.SourceVPCFlow, Principal: ingest.Principal{Key: "i-1"}},                 // no egress
		{Time: t0, Source: ingest.SourceUnknown, Principal: ingest.Principal{Key: "i-1"}},                 // unknown source
		{Time: t0, Source: ingest.SourceVPCFlow, Principal: ingest.Principal{Key: "i-1"}, EgressBytes: 1}, // counted
	}
	for i := range evs {
		e.Process(&evs[i])
	}
	e.Flush()
	if s := e.Stats(); s.Ignored != 3 || s.Events != 1 {
		t.Errorf("ignored %d events %d, want 3 and 1", s.Ignored, s.Events)
	}
}

// A principal that was active, then silent for an hour, then makes 500 calls
// is an outlier against its own baseline: the idle windows count as zeros.
// The alert fires at the crossing event, long before the window ends.
func TestSilentThenBurstEarlyFiring(t *testing.T) {
	cfg := Defaults()
	cfg.Parallelism = 2
	e, _, c := newTestEngine(t, cfg)
	key := "arn:aws:iam::" + acct + ":user/quiet"
	for m := range 30 {
		ev := ct(t0.Add(time.Duration(m)*time.Minute+10*time.Second), key, acct, "sts.amazonaws.com:GetCallerIdentity")
		e.Process(&ev)
	}
	burst := t0.Add(90 * time.Minute)
	var crossing time.Time
	for i := range 500 {
		ev := ct(burst.Add(time.Duration(i)*100*time.Millisecond), key, acct, "s3.amazonaws.com:ListBuckets")
		e.Process(&ev)
		if i == 20 { // the 21st call: mean < 1 and min excess 20 need 21 calls
			crossing = ev.Time
		}
	}
	e.Flush()
	if len(c.alerts) != 1 {
		t.Fatalf("got %d alerts, want 1:\n%s", len(c.alerts), c.lines)
	}
	a := c.alerts[0]
	if a.Metric != "api_calls" || a.PeerGroup != "" || a.BaselineWindows < 60 {
		t.Errorf("alert %s", a.AppendJSON(nil))
	}
	if a.DetectedAt != crossing.Format(time.RFC3339Nano) || a.Observed != 21 {
		t.Errorf("detected at %s with %g calls, want %s with 21", a.DetectedAt, a.Observed, crossing.Format(time.RFC3339Nano))
	}
	if end, _ := time.Parse(time.RFC3339, a.WindowEnd); !a.detected.Before(end) {
		t.Errorf("detected %s not before window end %s", a.DetectedAt, a.WindowEnd)
	}
	if a.WindowStart != "2025-03-01T01:30:00Z" {
		t.Errorf("window start %s", a.WindowStart)
	}
	if a.Mean <= 0 || a.Mean >= 1 || a.StdDev != 1 || a.ZScore < 20 || a.Severity != SeverityCritical {
		t.Errorf("scores: mean %g sigma %g z %g severity %s", a.Mean, a.StdDev, a.ZScore, a.Severity)
	}
}

// Injected incidents in two days of stationary Poisson traffic are found,
// and nothing else fires with the default (SOC) thresholds.
func TestPoissonBurstsFound(t *testing.T) {
	if testing.Short() {
		t.Skip("two days of traffic")
	}
	users, instances := 170, 30
	if raceEnabled {
		users, instances = 50, 10
	}
	ps := poissonPopulation(users, acct, 5)
	for i := range ps {
		ps[i].ErrProb, ps[i].S3Prob, ps[i].S3Max = 0.02, 0.1, 1<<20
	}
	for i := range instances {
		ps = append(ps, genPrincipal{
			Key: "i-" + string(rune('a'+i%26)) + strings.Repeat("0", i/26+1), Account: acct,
			Type: ingest.PrincipalInstance, Rate: 3, Flow: true, FlowMax: 1 << 20,
		})
	}
	user := func(i int) string { return ps[i].Key }
	inst := ps[users+3].Key
	type incident struct {
		principal, metric string
		minute            int
	}
	want := []incident{
		{user(7), "api_calls", 1800},
		{user(11), "api_errors", 2000},
		{user(11), "api_calls", 2000}, // an error storm is also a call burst
		{user(13), "egress_bytes", 2200},
		{inst, "egress_bytes", 2400},
	}
	g := newGenerator(42, ps)
	g.Inject = func(m int, add func(ingest.Event)) {
		base := t0.Add(time.Duration(m) * time.Minute)
		switch m {
		case 1800:
			for i := range 300 {
				add(ct(base.Add(time.Duration(i)*100*time.Millisecond), user(7), acct, "ec2.amazonaws.com:DescribeInstances"))
			}
		case 2000:
			for i := range 80 {
				ev := ct(base.Add(time.Duration(i)*500*time.Millisecond), user(11), acct, "s3.amazonaws.com:GetObject")
				ev.ErrorCode = "AccessDenied"
				add(ev)
			}
		case 2200:
			for i := range 5 {
				ev := ct(base.Add(time.Duration(i)*time.Second), user(13), acct, "s3.amazonaws.com:GetObject")
				ev.EgressBytes = 500 << 20
				add(ev)
			}
		case 2400:
			for i := range 3 {
				add(ingest.Event{
					Time: base.Add(time.Duration(i) * 10 * time.Second), Source: ingest.SourceVPCFlow,
					Principal:   ingest.Principal{Key: inst, Type: ingest.PrincipalInstance, Account: acct},
					EgressBytes: 1 << 30, PeerAddr: genPeers[0].Next().Next(), PeerPort: 443, Protocol: 6,
					Pos: ingest.Position{Name: "exfil.log", Partition: -1, Line: int64(i + 1)},
				})
			}
		}
	}
	cfg := Defaults()
	cfg.Parallelism = 2
	e, _, c := newTestEngine(t, cfg)
	g.run(2*24*60, e.Process)
	e.Flush()

	found := make([]bool, len(want))
	falses := 0
	for _, a := range c.alerts {
		hit := false
		for i, w := range want {
			if a.Principal == w.principal && a.Metric == w.metric && a.WindowStart == t0.Add(time.Duration(w.minute)*time.Minute).Format(time.RFC3339) {
				found[i], hit = true, true
			}
		}
		if !hit {
			falses++
			t.Logf("false alert: %s", a.AppendJSON(nil))
		}
	}
	for i, f := range found {
		if !f {
			t.Errorf("incident %+v not found", want[i])
		}
	}
	// With min excess 20 calls / 10 errors / 50 MiB, a Poisson(5) principal
	// needs >= 25 calls (p ~ 1e-9 per window), Poisson(0.1) errors >= 10
	// (p ~ 1e-17) and background egress is under 2 MiB a minute: over
	// 576,000 principal-windows the expected count is ~0.001.
	if falses > 1 {
		t.Errorf("%d false alerts, want at most 1", falses)
	}
	t.Logf("stats: %+v", e.Stats())
}

// poissonTail returns P(X >= k) for X ~ Poisson(lambda).
func poissonTail(lambda float64, k int) float64 {
	p, cdf := math.Exp(-lambda), 0.0
	for i := 0; i < k; i++ {
		cdf += p
		p *= lambda / float64(i+1)
	}
	return 1 - cdf
}

// On stationary Poisson traffic without incidents the alert rate is what
// the 3-sigma threshold implies and no more.
func TestFalseAlertRate(t *testing.T) {
	if testing.Short() {
		t.Skip("a day of traffic")
	}
	const (
		lambda  = 5.0
		minutes = 24 * 60
	)
	n := 200
	if raceEnabled {
		n = 60
	}
	cfg := Defaults()
	cfg.Parallelism = 2
	cfg.MinExcess = MetricValues{} // let the 3-sigma test alone decide
	cfg.Cooldown = 0
	e, _, c := newTestEngine(t, cfg)
	newGenerator(7, poissonPopulation(n, acct, lambda)).run(minutes, e.Process)
	e.Flush()

	// mean + 3 sqrt(mean) = 11.7, so a window fires at >= 12 calls
	// (p = 0.0055); the baseline's own sampling noise can move the cut to 13
	// for some principals. Windows before the peer group matures are silent.
	windows := float64(n * (minutes - cfg.PeerMinWindows))
	want := windows * poissonTail(lambda, 12)
	lo := windows * poissonTail(lambda, 13)
	got := float64(len(c.alerts))
	t.Logf("alerts %g over %.0f principal-windows; expected %.0f (%.0f if the cut moves to 13)", got, windows, want, lo)
	if got > 1.5*want {
		t.Errorf("%g alerts: more than the 3-sigma rate allows (%.0f)", got, 1.5*want)
	}
	if got < 0.5*lo {
		t.Errorf("%g alerts: fewer than the 3-sigma rate implies (%.0f): detector too deaf", got, 0.5*lo)
	}
	for _, a := range c.alerts {
		if a.Metric != "api_calls" {
			t.Fatalf("unexpected metric: %s", a.AppendJSON(nil))
		}
	}
}

// A brand-new access key that bursts in its first hour is scored against
// its peer group; one in an account without a mature group stays silent.
func TestColdStartPeerGroup(t *testing.T) {
	ps := poissonPopulation(50, acct, 5)
	newKey := "arn:aws:iam::" + acct + ":user/new-hire"
	loneKey := "arn:aws:iam::999999999999:user/lonely"
	ps = append(ps,
		genPrincipal{Key: newKey, Account: acct, Type: ingest.PrincipalIAMUser, Rate: 5, FirstMin: 150},
		genPrincipal{Key: loneKey, Account: "999999999999", Type: ingest.PrincipalIAMUser, Rate: 5, FirstMin: 150},
	)
	g := newGenerator(3, ps)
	g.Inject = func(m int, add func(ingest.Event)) {
		if m != 152 {
			return
		}
		base := t0.Add(152 * time.Minute)
		for i := range 200 {
			add(ct(base.Add(time.Duration(i)*200*time.Millisecond), newKey, acct, "iam.amazonaws.com:CreateAccessKey"))
			add(ct(base.Add(time.Duration(i)*200*time.Millisecond), loneKey, "999999999999", "iam.amazonaws.com:CreateAccessKey"))
		}
	}
	cfg := Defaults()
	cfg.Parallelism = 3
	e, _, c := newTestEngine(t, cfg)
	g.run(180, e.Process)
	e.Flush()
	var got *Alert
	for _, a := range c.alerts {
		switch a.Principal {
		case newKey:
			got = a
		case loneKey:
			t.Errorf("principal without a mature peer group alerted: %s", a.AppendJSON(nil))
		}
	}
	if got == nil {
		t.Fatalf("new principal's burst not caught; alerts:\n%s", c.lines)
	}
	if got.PeerGroup != acct+"/IAMUser" || got.BaselineWindows >= cfg.MinHistory || got.Metric != "api_calls" {
		t.Errorf("alert %s", got.AppendJSON(nil))
	}
	if math.Abs(got.Mean-5) > 0.5 {
		t.Errorf("peer mean %g, want about 5", got.Mean)
	}
	if s := e.Stats(); s.Unscored == 0 || s.PeerAlerts == 0 {
		t.Errorf("stats: %+v", s)
	}
}

// burst makes n calls by key in the minute starting at off; every errEvery-th
// call (if > 0) fails.
func burst(e *Engine, key, account string, off time.Duration, n, errEvery int) {
	for i := range n {
		ev := ct(t0.Add(off+time.Duration(i)*10*time.Millisecond), key, account, "ec2.amazonaws.com:RunInstances")
		if errEvery > 0 && i%errEvery == 0 {
			ev.ErrorCode = "UnauthorizedOperation"
		}
		e.Process(&ev)
	}
}

func TestCooldownAndOnePerWindow(t *testing.T) {
	for _, tt := range []struct {
		cooldown   time.Duration
		wantAlerts []string // window starts
		suppressed uint64
	}{
		{15 * time.Minute, []string{"2025-03-01T00:00:00Z", "2025-03-01T00:20:00Z"}, 1},
		{0, []string{"2025-03-01T00:00:00Z", "2025-03-01T00:05:00Z", "2025-03-01T00:20:00Z"}, 0},
	} {
		t.Run(tt.cooldown.String(), func(t *testing.T) {
			cfg := Defaults()
			cfg.MinHistory = 0
			cfg.Cooldown = tt.cooldown
			e, _, c := newTestEngine(t, cfg)
			key := "arn:aws:iam::" + acct + ":user/bursty"
			burst(e, key, acct, 0, 50, 0)                // fires once although 30 calls are past the threshold
			burst(e, key, acct, 5*time.Minute, 500, 0)   // within the cooldown of the first
			burst(e, key, acct, 20*time.Minute, 5000, 0) // after it
			e.Flush()
			var got []string
			for _, a := range c.alerts {
				got = append(got, a.WindowStart)
			}
			if strings.Join(got, " ") != strings.Join(tt.wantAlerts, " ") {
				t.Errorf("alerts in windows %v, want %v", got, tt.wantAlerts)
			}
			if s := e.Stats(); s.SuppressedCooldown != tt.suppressed || s.Alerts != uint64(len(tt.wantAlerts)) {
				t.Errorf("suppressed by cooldown %d (want %d), alerts %d", s.SuppressedCooldown, tt.suppressed, s.Alerts)
			}
		})
	}
}

func TestSuppression(t *testing.T) {
	key := "arn:aws:iam::" + acct + ":user/svc-backup"
	tests := []struct {
		name       string
		rules      []SuppressRule
		want       string // emitted metrics
		suppressed uint64
	}{
		{"none", nil, "api_errors api_calls", 0},
		{"glob", []SuppressRule{{Principal: "arn:aws:iam::*:user/svc-*"}}, "", 2},
		{"glob does not cross slash", []SuppressRule{{Principal: "arn:aws:iam::*"}}, "api_errors api_calls", 0},
		{"other glob", []SuppressRule{{Principal: "arn:aws:iam::*:user/admin-*"}}, "api_errors api_calls", 0},
		{"account", []SuppressRule{{Account: acct}}, "", 2},
		{"other account", []SuppressRule{{Account: "222222222222"}}, "api_errors api_calls", 0},
		{"metric", []SuppressRule{{Metric: "api_errors"}}, "api_calls", 1},
		{"glob and metric", []SuppressRule{{Principal: "*/svc-backup", Metric: "api_calls"}}, "api_errors", 1},
		{"account and wrong metric", []SuppressRule{{Account: acct, Metric: "egress_bytes"}}, "api_errors api_calls", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.MinHistory = 0
			cfg.Suppress = tt.rules
			e, _, c := newTestEngine(t, cfg)
			burst(e, key, acct, 0, 60, 2) // 60 calls, 30 errors
			e.Flush()
			var got []string
			for _, a := range c.alerts {
				got = append(got, a.Metric)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("emitted %v, want %q", got, tt.want)
			}
			if s := e.Stats(); s.SuppressedConfig != tt.suppressed {
				t.Errorf("suppressed %d, want %d", s.SuppressedConfig, tt.suppressed)
			}
		})
	}
}

func TestExplanation(t *testing.T) {
	cfg := Defaults()
	cfg.MinHistory = 0
	cfg.MinExcess.EgressBytes = 50 << 20 // the flows below cross it on the fifth
	e, _, c := newTestEngine(t, cfg)
	key := "arn:aws:iam::" + acct + ":user/explained"
	var ids []string
	for i := range 40 {
		action := "sts.amazonaws.com:GetCallerIdentity"
		if i%4 == 3 {
			action = "s3.amazonaws.com:ListBuckets"
		}
		ev := ct(t0.Add(time.Duration(i)*time.Second), key, acct, action)
		ids = append(ids, ev.EventID)
		e.Process(&ev)
	}
	// An instance sends 10 MiB flows: A, A, B, A, C -> crosses 50 MiB on C.
	inst := "i-0123456789abcdef0"
	dst := []string{"10.9.9.1:443", "10.9.9.1:443", "10.9.9.2:443", "10.9.9.1:443", "10.9.9.3:53"}
	for i, d := range dst {
		ap := netip.MustParseAddrPort(d)
		ev := ingest.Event{
			Time: t0.Add(time.Duration(i) * time.Second), Source: ingest.SourceVPCFlow,
			Principal:   ingest.Principal{Key: inst, Type: ingest.PrincipalInstance, Account: acct},
			EgressBytes: 10 << 20, PeerAddr: ap.Addr(), PeerPort: ap.Port(), Protocol: 6,
			Pos: ingest.Position{Name: "s3://flows/f.log.gz", Partition: -1, Line: int64(i + 1)},
		}
		e.Process(&ev)
	}
	e.Flush()
	if len(c.alerts) != 2 {
		t.Fatalf("want 2 alerts, got:\n%s", c.lines)
	}
	calls, flows := c.alerts[0], c.alerts[1]
	if calls.Metric != "api_calls" {
		calls, flows = flows, calls
	}
	// mean 0, sigma 1 (min), min excess 20: the 20th call crosses.
	if calls.Observed != 20 {
		t.Fatalf("observed %g, want 20", calls.Observed)
	}
	wantTop := []TopItem{
		{Key: "sts.amazonaws.com:GetCallerIdentity", Value: 15, Share: 0.75},
		{Key: "s3.amazonaws.com:ListBuckets", Value: 5, Share: 0.25},
	}
	if !equalTop(calls.Top, wantTop) {
		t.Errorf("top %+v, want %+v", calls.Top, wantTop)
	}
	wantEv := []string{ids[0], ids[1], ids[2], ids[19]}
	if strings.Join(calls.Evidence, ",") != strings.Join(wantEv, ",") {
		t.Errorf("evidence %v, want %v", calls.Evidence, wantEv)
	}
	const mib = 1 << 20
	wantTop = []TopItem{
		{Key: "10.9.9.1:443", Value: 30 * mib, Share: 0.6},
		{Key: "10.9.9.2:443", Value: 10 * mib, Share: 0.2},
		{Key: "10.9.9.3:53", Value: 10 * mib, Share: 0.2},
	}
	if flows.Metric != "egress_bytes" || flows.Source != "vpcflow" || flows.Observed != 50*mib || !equalTop(flows.Top, wantTop) {
		t.Errorf("flow alert %s", flows.AppendJSON(nil))
	}
	wantEv = []string{"s3://flows/f.log.gz:1", "s3://flows/f.log.gz:2", "s3://flows/f.log.gz:3", "s3://flows/f.log.gz:5"}
	if strings.Join(flows.Evidence, ",") != strings.Join(wantEv, ",") {
		t.Errorf("flow evidence %v, want %v", flows.Evidence, wantEv)
	}
}

func equalTop(a, b []TopItem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || math.Abs(a[i].Share-b[i].Share) > 1e-12 {
			return false
		}
	}
	return true
}

// The example in docs/alerts.md is real output: its id is AlertID of its
// fields and it re-encodes to the same bytes.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	line, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatal("no json example in docs/alerts.md")
	}
	var a Alert
	if err := json.Unmarshal([]byte(line), &a); err != nil {
		t.Fatal(err)
	}
	if a.ID != AlertID(a.Principal, a.Metric, a.WindowStart) {
		t.Errorf("doc example id %s, want %s", a.ID, AlertID(a.Principal, a.Metric, a.WindowStart))
	}
	if got := string(a.AppendJSON(nil)); got != line {
		t.Errorf("doc example does not round-trip:\n got %s\nwant %s", got, line)
	}
}

// Events the store refuses are counted and neither scored nor explained.
func TestStoreRejected(t *testing.T) {
	cfg := Defaults()
	cfg.MinHistory = 0
	st := baseline.New(baseline.Options{Shards: 1, MaxPrincipals: 2})
	c := &collector{}
	e, err := New(cfg, st, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, u := range []string{"a", "b", "c"} {
		burst(e, "arn:aws:iam::"+acct+":user/"+u, acct, 0, 30, 0)
	}
	e.Flush()
	if s := e.Stats(); s.Rejected != 30 || s.Alerts != 2 {
		t.Errorf("rejected %d alerts %d, want 30 and 2", s.Rejected, s.Alerts)
	}
}

func TestRun(t *testing.T) {
	cfg := Defaults()
	cfg.MinHistory = 0
	e, _, c := newTestEngine(t, cfg)
	in := make(chan ingest.Event, 64)
	go func() {
		for i := range 30 {
			in <- ct(t0.Add(time.Duration(i)*time.Second), "arn:aws:iam::"+acct+":user/run", acct, "a:b")
		}
		close(in)
	}()
	if err := e.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(c.alerts) != 1 {
		t.Errorf("Run: %d alerts, want 1 (Run flushes when the input closes)", len(c.alerts))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx, make(chan ingest.Event)); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with cancelled context: %v", err)
	}
}

// With out-of-order delivery an earlier window can cross after a later one;
// the cooldown applies on both sides of the first alert, and a zero cooldown
// never merges.
func TestCooldownOutOfOrder(t *testing.T) {
	for _, tt := range []struct {
		cooldown time.Duration
		alerts   uint64
	}{{0, 2}, {15 * time.Minute, 1}} {
		cfg := Defaults()
		cfg.MinHistory = 0
		cfg.Cooldown = tt.cooldown
		e, _, c := newTestEngine(t, cfg)
		key := "arn:aws:iam::" + acct + ":user/ooo"
		burst(e, key, acct, 3*time.Minute, 30, 0)
		burst(e, key, acct, 2*time.Minute, 30, 0) // window 2 is still open
		e.Flush()
		if s := e.Stats(); s.Alerts != tt.alerts || s.Late != 0 {
			t.Errorf("cooldown %s: %d alerts (want %d), %d late:\n%s", tt.cooldown, s.Alerts, tt.alerts, s.Late, c.lines)
		}
		// Output is sorted by detection time, whatever the input order.
		if len(c.alerts) == 2 && c.alerts[0].WindowStart != "2025-03-01T00:02:00Z" {
			t.Errorf("alerts not in detected_at order:\n%s", c.lines)
		}
	}
}
