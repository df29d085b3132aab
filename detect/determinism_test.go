package detect

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// mixedScenario is a few hours of traffic with everything that can reorder
// work between workers: out-of-order delivery, late events, two accounts,
// flow principals, cold-start principals, bursts, errors and egress.
func mixedScenario(seed uint64, minutes, users int) *generator {
	ps := poissonPopulation(users, acct, 4)
	for i := range ps {
		ps[i].ErrProb, ps[i].S3Prob, ps[i].S3Max = 0.05, 0.1, 4<<20
		if i%5 == 0 {
			ps[i].Account = "222222222222"
			ps[i].Key = "arn:aws:iam::222222222222:role/r" + strconv.Itoa(i)
			ps[i].Type = ingest.PrincipalAssumedRole
		}
		if i%7 == 0 {
			ps[i].FirstMin = minutes / 2 // cold start half way
		}
	}
	for i := range 6 {
		ps = append(ps, genPrincipal{
			Key: "i-" + strconv.Itoa(1000+i), Account: acct, Type: ingest.PrincipalInstance,
			Rate: 2, Flow: true, FlowMax: 8 << 20,
		})
	}
	g := newGenerator(seed, ps)
	g.Jitter = 3 * time.Minute
	g.Inject = func(m int, add func(ingest.Event)) {
		base := t0.Add(time.Duration(m) * time.Minute)
		if m%17 == 5 { // a burst by a rotating principal
			p := ps[(m/17*5)%len(ps)]
			for i := range 60 {
				ev := ct(base.Add(time.Duration(i)*700*time.Millisecond), p.Key, p.Account, genActions[i%3])
				ev.Principal.Type = p.Type
				if p.Flow {
					ev.Source, ev.Action, ev.EventID = ingest.SourceVPCFlow, "", ""
					ev.Pos = ingest.Position{Name: "flows.log", Partition: -1, Line: int64(m*100 + i + 1)}
					ev.EgressBytes = 4 << 20
					ev.PeerAddr = genPeers[i%len(genPeers)]
					ev.PeerPort = 8443
				}
				if i%3 == 0 {
					ev.ErrorCode = "ThrottlingException"
				}
				add(ev)
			}
		}
		if m%11 == 3 && m > 20 { // a late event
			add(ct(base.Add(-15*time.Minute), ps[0].Key, ps[0].Account, genActions[0]))
		}
	}
	return g
}

func mixedConfig() Config {
	cfg := Defaults()
	cfg.MinExcess = MetricValues{APICalls: 5, APIErrors: 3, EgressBytes: 1 << 20}
	cfg.MinHistory = 30
	cfg.PeerMinWindows = 10
	cfg.PeerMinSamples = 20
	cfg.Cooldown = 5 * time.Minute
	cfg.Suppress = []SuppressRule{
		{Principal: "arn:aws:iam::111111111111:user/u1*", Metric: "api_errors"},
		{Account: "222222222222", Metric: "egress_bytes"},
	}
	return cfg
}

func runMixed(t testing.TB, p int, minutes, users int) ([]byte, EngineStats) {
	cfg := mixedConfig()
	cfg.Parallelism = p
	cfg.BatchSize = 1 + p*13 // vary batching too
	e, _, c := newTestEngine(t, cfg)
	mixedScenario(11, minutes, users).run(minutes, e.Process)
	e.Flush()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return c.lines, e.Stats()
}

// The same input gives byte-identical alerts and identical counters at every
// parallelism (run under -race to also check the barrier).
func TestDeterminismAcrossParallelism(t *testing.T) {
	minutes := 360
	if testing.Short() {
		minutes = 120
	}
	want, wantStats := runMixed(t, 1, minutes, 60)
	n := bytes.Count(want, []byte("\n"))
	if n < 20 || wantStats.Late == 0 || wantStats.PeerAlerts == 0 || wantStats.SuppressedConfig == 0 || wantStats.SuppressedCooldown == 0 {
		t.Fatalf("scenario too tame to prove anything: %d alerts, %+v", n, wantStats)
	}
	t.Logf("%d alerts, stats %+v", n, wantStats)
	for _, p := range []int{2, 4, 8} {
		got, stats := runMixed(t, p, minutes, 60)
		if !bytes.Equal(got, want) {
			t.Errorf("P=%d: output differs from P=1\n%s", p, firstDiff(got, want))
		}
		if stats != wantStats {
			t.Errorf("P=%d: stats %+v, want %+v", p, stats, wantStats)
		}
	}
}

func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) && i < len(lb); i++ {
		if !bytes.Equal(la[i], lb[i]) {
			return "line " + strconv.Itoa(i+1) + ":\n got " + string(la[i]) + "\nwant " + string(lb[i])
		}
	}
	return "lengths " + strconv.Itoa(len(la)) + " vs " + strconv.Itoa(len(lb))
}

// TestAlertJSONGolden pins the alert schema and formatting: field order,
// float formatting, omitted optional fields. Run with -update to rewrite.
func TestAlertJSONGolden(t *testing.T) {
	got, _ := runMixed(t, 2, 90, 12)
	golden := filepath.Join("testdata", "alerts.golden.jsonl")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("alerts differ from %s (run with -update if intended)\n%s", golden, firstDiff(got, want))
	}
	// Every line is valid JSON that decodes into an Alert and re-encodes to
	// the same bytes: the format is a fixed point.
	for i, line := range bytes.Split(bytes.TrimSuffix(want, []byte("\n")), []byte("\n")) {
		var a Alert
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if again := a.AppendJSON(nil); !bytes.Equal(again, line) {
			t.Errorf("line %d does not round-trip:\n got %s\nwant %s", i+1, again, line)
		}
		if a.ID != AlertID(a.Principal, a.Metric, a.WindowStart) || len(a.Evidence) == 0 || len(a.Top) == 0 {
			t.Errorf("line %d: bad id, evidence or top: %s", i+1, line)
		}
	}
}

func TestAlertJSONShape(t *testing.T) {
	a := &Alert{
		ID: "x", Principal: "arn:aws:iam::1:user/\"odd\"\n\x01\u2028\xff", Metric: "api_calls",
		Observed: 12, Mean: 1.0 / 3, StdDev: 1e-9, ZScore: -0.0, Threshold: 1e20,
		Top: nil, Evidence: nil,
	}
	got := string(a.AppendJSON(nil))
	want := `{"id":"x","principal":"arn:aws:iam::1:user/\"odd\"\n\u0001\u2028\ufffd","principal_type":"","account":"","source":"","metric":"api_calls","window_start":"","window_end":"","observed":12,"mean":0.333333,"stddev":0,"zscore":0,"threshold":100000000000000000000,"severity":"","baseline_windows":0,"top":[],"evidence":[],"detected_at":""}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("invalid JSON")
	}
	m, _ := a.MarshalJSON()
	if string(m) != got {
		t.Error("MarshalJSON differs from AppendJSON")
	}
}

// BenchmarkEngineProcess measures events per second through Process and
// Flush: 1000 IAM principals and 50 instances over 30 minutes of event time.
func BenchmarkEngineProcess(b *testing.B) {
	ps := poissonPopulation(1000, acct, 8)
	for i := range ps {
		ps[i].ErrProb, ps[i].S3Prob, ps[i].S3Max = 0.02, 0.1, 1<<20
	}
	for i := range 50 {
		ps = append(ps, genPrincipal{Key: "i-" + strconv.Itoa(i), Account: acct, Type: ingest.PrincipalInstance, Rate: 10, Flow: true, FlowMax: 1 << 20})
	}
	var events []ingest.Event
	newGenerator(1, ps).run(30, func(ev *ingest.Event) { events = append(events, *ev) })
	for _, p := range []int{1, 2} {
		b.Run("P="+strconv.Itoa(p), func(b *testing.B) {
			cfg := Defaults()
			cfg.Parallelism = p
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				st := baseline.New(baseline.Options{Window: cfg.Window})
				e, err := New(cfg, st, func(*Alert) {})
				if err != nil {
					b.Fatal(err)
				}
				for i := range events {
					e.Process(&events[i])
				}
				e.Flush()
				e.Close()
			}
			b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(len(events)*b.N), "ns/event")
		})
	}
}
