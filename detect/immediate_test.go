package detect

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// sortedLines returns the alert lines in a canonical order.
func sortedLines(b []byte) [][]byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	slices.SortFunc(lines, bytes.Compare)
	return lines
}

// Immediate emission with a Sync every few events gives exactly the alerts
// of the buffered mode, byte for byte per alert; only their order may
// differ. And every alert of an event is out by the time Sync returns.
func TestImmediateEmitWithSyncMatchesBuffered(t *testing.T) {
	const minutes, users = 240, 60
	want, wantStats := runMixed(t, 2, minutes, users)

	cfg := mixedConfig()
	cfg.Parallelism = 3
	cfg.BatchSize = 64
	e, st, c := newTestEngine(t, cfg, WithImmediateEmit())
	n := 0
	mixedScenario(11, minutes, users).run(minutes, func(ev *ingest.Event) {
		e.Process(ev)
		n++
		if n%97 == 0 {
			before := st.Stats()
			e.Sync()
			// After Sync the workers are idle: a second look at the store
			// sees no change, so a snapshot here is consistent.
			if after := st.Stats(); after.Tracked < before.Tracked {
				t.Fatalf("store shrank across Sync: %+v -> %+v", before, after)
			}
		}
	})
	e.Flush()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	got := sortedLines(c.lines)
	exp := sortedLines(want)
	if len(got) != len(exp) {
		t.Fatalf("immediate mode: %d alerts, buffered %d", len(got), len(exp))
	}
	for i := range got {
		if !bytes.Equal(got[i], exp[i]) {
			t.Fatalf("alert %d differs:\n%s\n%s", i, got[i], exp[i])
		}
	}
	if s := e.Stats(); s.Alerts != wantStats.Alerts || s.Rounds != wantStats.Rounds || s.WindowsClosed != wantStats.WindowsClosed {
		t.Fatalf("stats %+v, want %+v", s, wantStats)
	}
}

// In immediate mode an alert is emitted before the window closes: after
// Sync, the burst's alert is out although no window has closed.
func TestImmediateEmitBeforeClose(t *testing.T) {
	cfg := Defaults()
	cfg.MinHistory = 0
	cfg.MinExcess = MetricValues{APICalls: 5, APIErrors: 3, EgressBytes: 1 << 20}
	cfg.Parallelism = 2
	e, _, c := newTestEngine(t, cfg, WithImmediateEmit())
	// A quiet hour of history, one call a minute.
	for m := range 60 {
		ev := ct(t0.Add(time.Duration(m)*time.Minute), "arn:aws:iam::111111111111:user/a", acct, genActions[0])
		e.Process(&ev)
	}
	e.Sync()
	if len(c.alerts) != 0 {
		t.Fatalf("alerts on quiet history: %d", len(c.alerts))
	}
	burst(e, "arn:aws:iam::111111111111:user/a", acct, 60*time.Minute+time.Second, 40, 0)
	e.Sync()
	if len(c.alerts) != 1 {
		t.Fatalf("want the burst's alert after Sync, got %d", len(c.alerts))
	}
}
