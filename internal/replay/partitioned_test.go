package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/internal/partition"
)

// alertIDs returns the ids of a replay's alerts, sorted.
func alertIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var a struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil || a.ID == "" {
			t.Fatalf("alert line %q: %v", line, err)
		}
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestPartitionsOneIsTheSingleEngine: one partition is one engine with one
// worker, and the single engine's output does not depend on its worker
// count, so --partitions 1 writes the same bytes as the default; the merge
// keeps a lone stream as it is.
func TestPartitionsOneIsTheSingleEngine(t *testing.T) {
	dir, _ := generate(t, 80, 8*time.Hour)
	s0, out0 := run(t, Options{Inputs: []string{dir}})
	s1, out1 := run(t, Options{Inputs: []string{dir}, Partitions: 1})
	if s0.Alerts == 0 {
		t.Fatal("weak test input: no alerts")
	}
	if out0 != out1 {
		t.Fatalf("--partitions 1 differs from the single engine:\n%s\nvs\n%s", brief(out1), brief(out0))
	}
	if s0.Alerts != s1.Alerts || s0.Decoded != s1.Decoded || s0.Principals != s1.Principals || s0.TotalRejected() != s1.TotalRejected() {
		t.Fatalf("summaries differ: %+v vs %+v", s1, s0)
	}
}

// TestPartitionsDeterministic: a partitioned replay writes the same bytes
// run after run, whatever GOMAXPROCS and the number of decoding goroutines,
// although its engines run concurrently.
func TestPartitionsDeterministic(t *testing.T) {
	dir, _ := generate(t, 80, 8*time.Hour)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first string
	for i, c := range []struct{ procs, par int }{{1, 1}, {4, 4}, {2, 3}, {8, 1}} {
		runtime.GOMAXPROCS(c.procs)
		sum, out := run(t, Options{Inputs: []string{dir}, Parallelism: c.par, Partitions: 4})
		if i == 0 {
			first = out
			if sum.Alerts < 3 {
				t.Fatalf("weak test input: %d alerts", sum.Alerts)
			}
			continue
		}
		if out != first {
			t.Fatalf("GOMAXPROCS %d, parallelism %d: alerts differ from the first run:\n%s\nvs\n%s", c.procs, c.par, brief(out), brief(first))
		}
	}
}

// TestPartitionsSameAlertsOnOwnBaselines: with no cold-start period
// (min_history 0) every principal is scored on its own baseline only, so
// which principals share an engine cannot matter and 4 partitions raise
// the alerts one engine does. (With peer-group scoring they may not: a
// partition's peer group has only the principals hashed to it.)
func TestPartitionsSameAlertsOnOwnBaselines(t *testing.T) {
	dir, _ := generate(t, 80, 8*time.Hour)
	cfg := defaultDetect()
	cfg.MinHistory = 0
	s0, out0 := run(t, Options{Inputs: []string{dir}, Detect: cfg})
	s4, out4 := run(t, Options{Inputs: []string{dir}, Detect: cfg, Partitions: 4})
	ids0, ids4 := alertIDs(t, out0), alertIDs(t, out4)
	if len(ids0) == 0 {
		t.Fatal("weak test input: no alerts")
	}
	if !slices.Equal(ids0, ids4) {
		t.Fatalf("alert ids differ:\n4 partitions:\n%s\none engine:\n%s", brief(out4), brief(out0))
	}
	if s0.Alerts != s4.Alerts || s0.Decoded != s4.Decoded || s0.Principals != s4.Principals {
		t.Fatalf("summaries differ: %+v vs %+v", s4, s0)
	}
	// The alerts span several partitions, or the test proves little.
	parts := map[int]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out4), "\n") {
		var a struct{ Principal string }
		json.Unmarshal([]byte(line), &a)
		parts[partition.Of(a.Principal, 4)] = true
	}
	if len(parts) < 2 {
		t.Errorf("alerts in %d partition(s) only", len(parts))
	}
}

// TestPartitionsLateEventsAggregate: late events of every partition reach
// the one late handler, in input order: the dead-letter file and the summary
// count them all. Each principal makes its own late event (it jumps 20
// minutes ahead, then sends one for its first minute), so one engine and
// four see the same ones.
func TestPartitionsLateEventsAggregate(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
	var recs []string
	for _, at := range []time.Duration{10 * time.Second, 20 * time.Minute, 30 * time.Second} {
		for _, u := range users {
			recs = append(recs, ctRecord(len(recs), u, t0.Add(at).Format(time.RFC3339)))
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "ct.json")
	if err := os.WriteFile(in, []byte(`{"Records":[`+strings.Join(recs, ",")+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	parts := map[int]bool{}
	for _, u := range users {
		parts[partition.Of("arn:aws:iam::111122223333:user/"+u, 4)] = true
	}
	if len(parts) < 2 {
		t.Fatalf("weak test: the users share %d partition(s)", len(parts))
	}

	deadLetters := func(n int) (*Summary, []byte) {
		dl := filepath.Join(dir, "dl.jsonl")
		sum, _ := run(t, Options{Inputs: []string{in}, DeadLetter: dl, Partitions: n})
		b, err := os.ReadFile(dl)
		if err != nil {
			t.Fatal(err)
		}
		return sum, b
	}
	s0, dl0 := deadLetters(0)
	s4, dl4 := deadLetters(4)
	if got := s4.Rejected[string(ingest.ReasonLate)]; got != int64(len(users)) {
		t.Errorf("4 partitions: %d late events counted, want %d", got, len(users))
	}
	if got := bytes.Count(dl4, []byte("\n")); got != len(users) {
		t.Errorf("4 partitions: %d dead letters, want %d", got, len(users))
	}
	if s0.Rejected[string(ingest.ReasonLate)] != int64(len(users)) || !bytes.Equal(dl0, dl4) {
		t.Errorf("dead letters differ from one engine's:\n%s\nvs\n%s", dl4, dl0)
	}
}

// TestPartitionsOptionErrors: out-of-range counts and --state are refused
// before anything is read or written.
func TestPartitionsOptionErrors(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"negative", Options{Partitions: -1}, ErrPartitions},
		{"too many", Options{Partitions: MaxPartitions + 1}, ErrPartitions},
		{"with state", Options{Partitions: 2, StateFile: state}, ErrPartitionsWithState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Inputs = []string{corpus}
			tt.opts.SummaryJSON = filepath.Join(dir, "sum.json")
			_, err := Run(context.Background(), tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, p := range []string{state, tt.opts.SummaryJSON} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s written", p)
				}
			}
		})
	}
	if _, err := Run(context.Background(), Options{Inputs: []string{corpus}, Partitions: MaxPartitions, Detect: defaultDetect()}); err != nil {
		t.Errorf("%d partitions: %v", MaxPartitions, err)
	}
}

// TestPartitionedCountsAcrossEngines: an event with no principal is ignored
// by whichever engine it reaches, the counters add up over engines, and only
// partitions that see events get an engine.
func TestPartitionedCountsAcrossEngines(t *testing.T) {
	cfg := defaultDetect()
	if _, err := newPartitioned(8, detect.Config{Sigma: -1}, baseline.Options{}, nil); !errors.Is(err, detect.ErrInvalidConfig) {
		t.Errorf("bad config: %v", err)
	}
	p, err := newPartitioned(MaxPartitions, cfg, baseline.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	keys := []string{"", "arn:aws:iam::111122223333:user/a", "arn:aws:iam::111122223333:user/b", "arn:aws:iam::111122223333:user/c"}
	newest := map[int]time.Time{} // by partition
	for i, k := range keys {
		ev := ingest.Event{Time: t0.Add(time.Duration(i) * time.Second), Source: ingest.SourceCloudTrail, Action: "sts:GetCallerIdentity",
			Principal: ingest.Principal{Key: k, Type: ingest.PrincipalIAMUser, Account: "111122223333"}}
		p.Process(&ev)
		if k != "" {
			newest[partition.Of(k, MaxPartitions)] = ev.Time
		}
	}
	started := map[int]bool{0: true, partition.Of("", MaxPartitions): true}
	for i := range newest {
		started[i] = true
	}
	for i, eng := range p.engines {
		if (eng != nil) != started[i] {
			t.Errorf("partition %d: engine started %v, want %v", i, eng != nil, started[i])
		}
	}
	p.Flush()
	s := p.Stats()
	if s.Ignored != 1 || s.Events != 3 || s.WindowsClosed != 3 {
		t.Errorf("stats %+v: want 1 ignored, 3 events, 3 windows closed", s)
	}
	var want time.Time
	for _, at := range newest {
		if want.IsZero() || at.Before(want) {
			want = at
		}
	}
	if want = want.Add(-cfg.AllowedLateness); !s.Watermark.Equal(want) {
		t.Errorf("watermark %s, want %s: the oldest partition's", s.Watermark, want)
	}
}

// TestMergeOrderIsTheEngineOrder: one engine releases the alerts of a
// window close sorted by detect's order; split into streams and merged back
// they come out in the same order. The alerts tie on detected_at across
// principals and on detected_at and principal across metrics, and their
// detected_at strings ("...:09Z", "...:09.5Z") do not sort as text, so the
// merge's order is detect's in every key.
func TestMergeOrderIsTheEngineOrder(t *testing.T) {
	cfg := defaultDetect()
	cfg.MinHistory = 0
	cfg.MinExcess.APICalls, cfg.MinExcess.APIErrors = 10, 10
	cfg.Cooldown = 0
	cfg.Parallelism = 3
	var want []*detect.Alert
	eng, err := detect.New(cfg, baseline.New(baseline.Options{Window: cfg.Window}), func(a *detect.Alert) { want = append(want, a) })
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	const principals = 10
	for j := range 12 {
		for i := principals - 1; i >= 0; i-- {
			ev := ingest.Event{
				Time:      t0.Add(time.Duration(j)*time.Second + time.Duration(i%3)*500*time.Millisecond),
				Source:    ingest.SourceCloudTrail,
				Principal: ingest.Principal{Key: "arn:aws:iam::111122223333:user/p" + string(rune('0'+i)), Type: ingest.PrincipalIAMUser, Account: "111122223333"},
				Action:    "ec2.amazonaws.com:DescribeInstances",
			}
			if i%2 == 0 {
				ev.ErrorCode = "AccessDenied"
			}
			eng.Process(&ev)
		}
	}
	eng.Flush()
	if len(want) != principals+principals/2 {
		t.Fatalf("%d alerts, want %d", len(want), principals+principals/2)
	}
	textOrderWrong := false
	for i := 1; i < len(want); i++ {
		a, b := orderKeyOf(want[i-1]), orderKeyOf(want[i])
		if alertOrder(&a, &b) >= 0 {
			t.Errorf("alertOrder puts %s %s %s at or after %s %s %s", a.a.DetectedAt, a.a.Principal, a.a.Metric, b.a.DetectedAt, b.a.Principal, b.a.Metric)
		}
		if a.a.DetectedAt > b.a.DetectedAt {
			textOrderWrong = true
		}
	}
	if !textOrderWrong {
		t.Error("weak test: detected_at sorts as text")
	}
	streams := make([][]*detect.Alert, 4)
	for i, a := range want {
		streams[(i*7)%4] = append(streams[(i*7)%4], a)
	}
	var got []*detect.Alert
	mergeStreams(streams, func(a *detect.Alert) { got = append(got, a) })
	if !slices.Equal(got, want) {
		t.Fatal("merged streams are not in the engine's order")
	}
}
