package detect

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// stateStoreOptions is small enough that principals are evicted both at the
// cap and after IdleTTL in stateEvents' stream.
func stateStoreOptions() baseline.Options {
	return baseline.Options{Window: time.Minute, Shards: 16, MaxPrincipals: 112, IdleTTL: 40 * time.Minute}
}

// stateEvents is mixedScenario (bursts, late events, out-of-order delivery,
// cold starts scored against peer groups, cooldowns, suppressions, flows)
// plus rare principals that idle long enough to be evicted, and events that
// add to no metric.
func stateEvents(minutes int) []ingest.Event {
	g := mixedScenario(23, minutes, 40)
	for i := range 80 {
		g.ps = append(g.ps, genPrincipal{
			Key:     "arn:aws:iam::" + acct + ":user/rare" + strconv.Itoa(i),
			Account: acct, Type: ingest.PrincipalIAMUser, Rate: 0.02, ErrProb: 0.3,
		})
	}
	var evs []ingest.Event
	g.run(minutes, func(ev *ingest.Event) {
		evs = append(evs, *ev)
		if len(evs)%97 == 0 {
			ignored := *ev
			ignored.Principal.Key = ""
			evs = append(evs, ignored)
		}
	})
	return evs
}

type stateEngine struct {
	*Engine
	store *baseline.Store
	c     *collector
}

func newStateEngine(t testing.TB, p int) stateEngine {
	t.Helper()
	cfg := mixedConfig()
	cfg.Parallelism = p
	cfg.BatchSize = 1 + p*13
	st := baseline.New(stateStoreOptions())
	c := &collector{}
	e, err := New(cfg, st, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return stateEngine{e, st, c}
}

func exportMap(t testing.TB, e *Engine) map[string][]byte {
	t.Helper()
	m := make(map[string][]byte)
	if err := e.Export(func(k string, v []byte) {
		if _, dup := m[k]; dup || v == nil {
			t.Fatalf("Export: key %q twice or nil", k)
		}
		m[k] = bytes.Clone(v)
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// record is one changelog record as Changes wrote it.
type record struct {
	key   string
	value []byte
}

// changelog accumulates Changes like a compacted topic, and keeps the
// uncompacted log too.
type changelog struct {
	m   map[string][]byte
	log []record
}

func (cl *changelog) changes(t testing.TB, e *Engine) (n int) {
	t.Helper()
	var keys []string
	if err := e.Changes(func(k string, v []byte) {
		keys = append(keys, k)
		v = bytes.Clone(v)
		cl.log = append(cl.log, record{k, v})
		if v == nil {
			delete(cl.m, k)
		} else {
			cl.m[k] = v
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 || keys[len(keys)-1] != "" || !slices.IsSorted(keys[:len(keys)-1]) || slices.Contains(keys[:len(keys)-1], "") {
		t.Fatalf("Changes keys not sorted principals then \"\": %q", keys)
	}
	return len(keys) - 1
}

func alertSet(parts ...[]byte) string {
	var lines []string
	for _, p := range parts {
		for l := range bytes.SplitSeq(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
			if len(l) > 0 {
				lines = append(lines, string(l))
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func diffMaps(t testing.TB, what string, got, want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: key %q missing", what, k)
		} else if !bytes.Equal(g, v) {
			t.Errorf("%s: key %q differs:\n got %x\nwant %x", what, k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra key %q", what, k)
		}
	}
}

func restoreAll(t testing.TB, e *Engine, recs []record) {
	t.Helper()
	for _, r := range recs {
		if err := e.RestoreState(r.key, r.value); err != nil {
			t.Fatalf("RestoreState(%q): %v", r.key, err)
		}
	}
}

// TestStateSplitRun is the changelog's key property. Engine A processes the
// whole stream. Engine B processes a prefix, writing Changes to a changelog
// at random points and at the split; engine C is restored from that
// changelog, compacted (in random order) or replayed as written (duplicates
// and tombstones included), and processes the rest. B's alerts and C's are
// then exactly A's, whatever the parallelism of B and C. At every Changes the
// accumulated changelog equals a full Export.
func TestStateSplitRun(t *testing.T) {
	minutes := 300
	if testing.Short() {
		minutes = 150
	}
	evs := stateEvents(minutes)

	a := newStateEngine(t, 1)
	for i := range evs {
		a.Process(&evs[i])
	}
	a.Flush()
	want := alertSet(a.c.lines)
	wantState := exportMap(t, a.Engine)
	as, ss := a.Stats(), a.store.Stats()
	t.Logf("%d events, engine %+v, store %+v", len(evs), as, ss)
	if as.Alerts < 20 || as.Late == 0 || as.PeerAlerts == 0 || as.SuppressedCooldown == 0 || as.SuppressedConfig == 0 ||
		as.Ignored == 0 || ss.EvictedCap == 0 || ss.EvictedTTL == 0 || as.Rejected == 0 {
		t.Fatal("scenario too tame to prove anything")
	}

	rng := rand.New(rand.NewPCG(5, 5))
	splits := []int{len(evs) / 7, len(evs) / 2, len(evs) - len(evs)/9, 1 + rng.IntN(len(evs)-1)}
	for _, split := range splits {
		for _, p := range [][2]int{{1, 2}, {2, 1}} {
			t.Run(fmt.Sprintf("split=%d/P=%d,%d", split, p[0], p[1]), func(t *testing.T) {
				b := newStateEngine(t, p[0])
				cl := &changelog{m: make(map[string][]byte)}
				var points []int
				for range 12 {
					points = append(points, rng.IntN(split))
				}
				slices.Sort(points)
				for i := range split {
					for len(points) > 0 && points[0] == i {
						points = points[1:]
						cl.changes(t, b.Engine)
						diffMaps(t, "changelog vs Export", cl.m, exportMap(t, b.Engine))
						if n := cl.changes(t, b.Engine); n != 0 {
							t.Errorf("Changes right after Changes reported %d principals", n)
						}
					}
					b.Process(&evs[i])
				}
				cl.changes(t, b.Engine)
				diffMaps(t, "changelog vs Export at the split", cl.m, exportMap(t, b.Engine))

				// Compacted, in map (random) order.
				c := newStateEngine(t, p[1])
				var recs []record
				for k, v := range cl.m {
					recs = append(recs, record{k, v})
				}
				restoreAll(t, c.Engine, recs)
				diffMaps(t, "Export after restore", exportMap(t, c.Engine), cl.m)
				for i := split; i < len(evs); i++ {
					c.Process(&evs[i])
				}
				c.Flush()
				if got := alertSet(b.c.lines, c.c.lines); got != want {
					t.Errorf("restored from the compacted changelog: alerts differ\n%s", firstDiff([]byte(got), []byte(want)))
				}
				// Not only the alerts: the whole final state, peer statistics'
				// float bits and the store's eviction order included.
				diffMaps(t, "final state", exportMap(t, c.Engine), wantState)

				// Replayed as written.
				c2 := newStateEngine(t, p[1])
				restoreAll(t, c2.Engine, cl.log)
				for i := split; i < len(evs); i++ {
					c2.Process(&evs[i])
				}
				c2.Flush()
				if got := alertSet(b.c.lines, c2.c.lines); got != want {
					t.Errorf("restored from the replayed changelog: alerts differ\n%s", firstDiff([]byte(got), []byte(want)))
				}
				diffMaps(t, "final state, replayed vs compacted", exportMap(t, c2.Engine), exportMap(t, c.Engine))
			})
		}
	}
}

// TestStateObserve: an engine restored from the state at offset k, fed the
// events before k (from an older input offset) through Observe and the rest
// through Process, gives the uninterrupted run's alerts.
func TestStateObserve(t *testing.T) {
	evs := stateEvents(150)
	a := newStateEngine(t, 2)
	for i := range evs {
		a.Process(&evs[i])
	}
	a.Flush()
	want := alertSet(a.c.lines)

	for _, k := range []int{len(evs) / 3, len(evs) * 2 / 3} {
		b := newStateEngine(t, 2)
		for i := range k {
			b.Process(&evs[i])
		}
		state := exportMap(t, b.Engine)
		for _, from := range []int{0, k - 3000} {
			d := newStateEngine(t, 1)
			for key, v := range state {
				if err := d.RestoreState(key, v); err != nil {
					t.Fatal(err)
				}
			}
			for i := from; i < k; i++ {
				d.Observe(&evs[i])
			}
			diffMaps(t, "Observe of reflected events", exportMap(t, d.Engine), state)
			for i := k; i < len(evs); i++ {
				d.Process(&evs[i])
			}
			d.Flush()
			if got := alertSet(b.c.lines, d.c.lines); got != want {
				t.Errorf("k=%d from=%d: alerts differ\n%s", k, from, firstDiff([]byte(got), []byte(want)))
			}
			if st := d.Stats(); st.Late != a.Stats().Late-b.Stats().Late {
				t.Errorf("k=%d from=%d: %d late events after the split, want %d", k, from, st.Late, a.Stats().Late-b.Stats().Late)
			}
		}
	}
}

// TestObserveMovesTimeLikeProcess: Observe moves the watermark, closes
// windows and routes windows as Process does, and skips what Process skips.
func TestObserveMovesTimeLikeProcess(t *testing.T) {
	evs := stateEvents(40)
	p, o := newStateEngine(t, 1), newStateEngine(t, 1)
	for i := range evs {
		p.Process(&evs[i])
		o.Observe(&evs[i])
		ps, os := p.Stats(), o.Stats()
		if ps.Watermark != os.Watermark || ps.ClosedThrough != os.ClosedThrough || p.maxWin != o.maxWin || p.haveWin != o.haveWin {
			t.Fatalf("event %d: Process %v/%v/%d, Observe %v/%v/%d", i, ps.Watermark, ps.ClosedThrough, p.maxWin, os.Watermark, os.ClosedThrough, o.maxWin)
		}
	}
	p.Flush()
	o.Flush()
	if ps, os := p.Stats(), o.Stats(); ps.Rounds != os.Rounds || os.Events != 0 || os.Late != 0 || os.Ignored != 0 || o.store.Len() != 0 || len(o.c.lines) != 0 {
		t.Errorf("Process %+v\nObserve %+v", ps, os)
	}
}

// TestRestoreStateErrors: every failure matches its sentinel and leaves the
// engine as it was.
func TestRestoreStateErrors(t *testing.T) {
	src := newStateEngine(t, 1)
	evs := stateEvents(30)
	for i := range evs {
		src.Process(&evs[i])
	}
	state := exportMap(t, src.Engine)
	var key string
	for k, v := range state {
		if k != "" && len(v) > 40 && v[1]&flagDetector != 0 {
			key = k
			break
		}
	}
	if key == "" {
		t.Fatal("no principal with detector state")
	}
	good := state[key]
	otherShards := func() []byte {
		st := baseline.New(baseline.Options{Window: time.Minute, Shards: 32})
		e, err := New(mixedConfig(), st, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		return exportMap(t, e)[""]
	}()
	with := func(i int, b byte) []byte { v := bytes.Clone(good); v[i] = b; return v }

	cases := []struct {
		name  string
		key   string
		value []byte
		want  error
	}{
		{"version", key, with(0, 2), ErrStateVersion},
		{"empty", key, []byte{}, ErrStateCorrupt},
		{"truncated", key, good[:len(good)/2], ErrStateCorrupt},
		{"flags", key, with(1, 0x40), ErrStateCorrupt},
		{"trailing byte", key, append(bytes.Clone(good), 0), ErrStateCorrupt},
		{"engine version", "", with(0, 9)[:1], ErrStateVersion},
		{"engine truncated", "", state[""][:3], ErrStateCorrupt},
		{"engine tombstone", "", nil, ErrStateCorrupt},
		{"engine other shards", "", otherShards, ErrStateIncompatible},
		{"key too long", string(make([]byte, baseline.MaxKeyLen+1)), good, ErrStateCorrupt},
	}
	e := newStateEngine(t, 2)
	restoreAll(t, e.Engine, func() (r []record) {
		for k, v := range state {
			r = append(r, record{k, v})
		}
		return r
	}())
	before := exportMap(t, e.Engine)
	for _, tc := range cases {
		err := e.RestoreState(tc.key, tc.value)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	diffMaps(t, "after failed restores", exportMap(t, e.Engine), before)

	e.Process(&evs[0])
	if err := e.RestoreState(key, good); !errors.Is(err, ErrRestoreStarted) {
		t.Errorf("after Process: %v", err)
	}
	e.Close()
	for name, err := range map[string]error{
		"RestoreState": e.RestoreState(key, good),
		"Changes":      e.Changes(func(string, []byte) {}),
		"Export":       e.Export(func(string, []byte) {}),
	} {
		if !errors.Is(err, ErrEngineClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

// TestStateTombstones: a principal the engine forgets is reported with a nil
// value, and restoring a tombstone forgets it.
func TestStateTombstones(t *testing.T) {
	e := newStateEngine(t, 1)
	cl := &changelog{m: make(map[string][]byte)}
	cl.changes(t, e.Engine)
	key := "arn:aws:iam::" + acct + ":user/once"
	ev := ct(t0, key, acct, genActions[0])
	e.Process(&ev)
	if n := cl.changes(t, e.Engine); n != 1 || cl.m[key] == nil {
		t.Fatalf("%d principals reported, want the new one", n)
	}
	once := cl.m[key]
	// An hour on, IdleTTL (40m) has forgotten it.
	for m := 1; m <= 60; m++ {
		ev := ct(t0.Add(time.Duration(m)*time.Minute), "arn:aws:iam::"+acct+":user/busy", acct, genActions[1])
		e.Process(&ev)
	}
	cl.log = nil
	cl.changes(t, e.Engine)
	if _, ok := cl.m[key]; ok || !slices.ContainsFunc(cl.log, func(r record) bool { return r.key == key && r.value == nil }) {
		t.Fatalf("evicted principal: no tombstone in %v", cl.log)
	}

	r := newStateEngine(t, 1)
	busy := "arn:aws:iam::" + acct + ":user/busy"
	restoreAll(t, r.Engine, []record{{key, once}, {busy, cl.m[busy]}})
	if m := exportMap(t, r.Engine); len(m) != 3 {
		t.Fatalf("restored %d keys, want 3", len(m))
	}
	restoreAll(t, r.Engine, []record{{key, nil}, {busy, nil}})
	if m := exportMap(t, r.Engine); len(m) != 1 {
		t.Errorf("after tombstones: %d keys, want only the engine's", len(m))
	}
}

// TestChangesReportsCooldownEnd: a principal that alerted and went quiet is
// reported again when its cooldown ends and the detector forgets it, though
// nothing else about it changes then.
func TestChangesReportsCooldownEnd(t *testing.T) {
	e := newStateEngine(t, 2)
	cl := &changelog{m: make(map[string][]byte)}
	key := "arn:aws:iam::" + acct + ":user/noisy"
	// Peers make the newcomer scorable; then it bursts once.
	for m := range 40 {
		for i := range 12 {
			ev := ct(t0.Add(time.Duration(m)*time.Minute+time.Duration(i)*time.Second), "arn:aws:iam::"+acct+":user/peer"+strconv.Itoa(i), acct, genActions[0])
			e.Process(&ev)
		}
		if m == 30 {
			burst(e.Engine, key, acct, 30*time.Minute+10*time.Second, 60, 0)
		}
	}
	if len(e.c.alerts) == 0 || e.c.alerts[0].Principal != key {
		t.Fatalf("no alert for the burst: %d alerts", len(e.c.alerts))
	}
	cl.changes(t, e.Engine)
	withCooldown := cl.m[key]
	if withCooldown[1]&flagDetector == 0 {
		t.Fatal("detector state missing while the cooldown runs")
	}
	for m := 40; m < 50; m++ { // the cooldown (5m) ends, the baseline entry stays
		ev := ct(t0.Add(time.Duration(m)*time.Minute), "arn:aws:iam::"+acct+":user/peer0", acct, genActions[0])
		e.Process(&ev)
		cl.changes(t, e.Engine)
		diffMaps(t, "changelog vs Export", cl.m, exportMap(t, e.Engine))
	}
	if v := cl.m[key]; v == nil || v[1]&flagDetector != 0 {
		t.Fatalf("after the cooldown: %x", v)
	}
}

// BenchmarkChanges measures Changes for 10,000 principals that all changed:
// the cost and size of one principal's record.
func BenchmarkChanges(b *testing.B) {
	ps := poissonPopulation(10000, acct, 2)
	for i := range ps {
		ps[i].ErrProb, ps[i].S3Prob, ps[i].S3Max = 0.05, 0.1, 1<<20
	}
	cfg := Defaults()
	cfg.Parallelism = 1
	st := baseline.New(baseline.Options{Window: cfg.Window})
	e, err := New(cfg, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	newGenerator(1, ps).run(20, e.Process)
	e.Changes(func(string, []byte) {})
	keys := st.AppendKeys(nil)
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, k := range keys {
			e.workers[e.workerOf(st.ShardOf(k))].touch(k, true)
		}
		size = 0
		b.StartTimer()
		e.Changes(func(k string, v []byte) {
			if k != "" {
				size += len(v)
			}
		})
	}
	b.SetBytes(int64(size))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/principal")
	b.ReportMetric(float64(size)/float64(len(keys)), "bytes/principal")
}
