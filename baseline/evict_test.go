package baseline

import (
	"fmt"
	"testing"
	"time"
)

func closeAll(s *Store, w int64) {
	for sh := range s.NumShards() {
		s.CloseWindow(sh, w, nil)
	}
}

// TestCapNeverEvictsOpen: at the cap, a new principal evicts one without an
// open window; when every principal is open, the newcomer is rejected and
// counted instead.
func TestCapNeverEvictsOpen(t *testing.T) {
	s := New(Options{Shards: 1, MaxPrincipals: 3})
	s.Add("c", Meta{}, 0, Values{1})
	closeAll(s, 0) // c is closed; a and b stay open
	s.Add("a", Meta{}, 1, Values{1})
	s.Add("b", Meta{}, 1, Values{1})
	if obs := s.Add("d", Meta{}, 1, Values{1}); obs.Rejected || !obs.New {
		t.Fatalf("d: %+v", obs)
	}
	for key, want := range map[string]bool{"a": true, "b": true, "c": false, "d": true} {
		if _, _, ok := s.Get(key, 2); ok != want {
			t.Errorf("%s tracked = %v, want %v", key, ok, want)
		}
	}
	if obs := s.Add("e", Meta{}, 1, Values{1}); !obs.Rejected {
		t.Fatalf("e admitted into a shard full of open principals: %+v", obs)
	}
	if obs := s.Add("a", Meta{}, 1, Values{1}); obs.Rejected || obs.Running[0] != 2 {
		t.Fatalf("tracked principal refused at the cap: %+v", obs)
	}
	st := s.Stats()
	if st.Tracked != 3 || st.EvictedCap != 1 || st.Rejected != 1 || st.Open != 3 {
		t.Errorf("Stats = %+v", st)
	}
	closeAll(s, 1)
	if obs := s.Add("e", Meta{}, 2, Values{1}); obs.Rejected {
		t.Error("e rejected after windows closed")
	}
}

// TestCapEvictsLeastRecentlyActive: sampled eviction strongly prefers the
// principals idle longest, and the cap holds per shard.
func TestCapEvictsLeastRecentlyActive(t *testing.T) {
	const n = 1000
	s := New(Options{Shards: 1, MaxPrincipals: n})
	for i := range n {
		s.Add(fmt.Sprint("old", i), Meta{}, int64(i), Values{1})
		closeAll(s, int64(i))
	}
	for i := range n / 4 {
		s.Add(fmt.Sprint("new", i), Meta{}, n+1, Values{1})
	}
	if st := s.Stats(); st.Tracked != n || st.EvictedCap != n/4 {
		t.Fatalf("Stats = %+v", st)
	}
	// With 5 samples, the expected rank of a victim is about n/6: the mean
	// last-active window of the evicted principals must be far below n/2.
	sum, cnt := 0, 0
	for i := range n {
		if _, _, ok := s.Get(fmt.Sprint("old", i), n+2); !ok {
			sum += i
			cnt++
		}
	}
	if cnt != n/4 || sum/cnt > n/4 {
		t.Errorf("%d evicted with mean last activity %d, want <= %d", cnt, sum/max(cnt, 1), n/4)
	}

	// Per-shard cap: max(1, 10/4) = 2 per shard, 8 in all.
	s = New(Options{Shards: 4, MaxPrincipals: 10})
	for i := range 100 {
		s.Add(fmt.Sprint(i), Meta{}, 0, Values{1})
		closeAll(s, 0)
	}
	if st := s.Stats(); st.Tracked != 8 || st.EvictedCap != 92 {
		t.Errorf("per-shard cap: %+v", st)
	}
}

// TestIdleTTL: a principal is forgotten once its newest activity is more than
// IdleTTL old in window time, not before, and the sweep is incremental.
func TestIdleTTL(t *testing.T) {
	s := New(Options{Shards: 1, Window: time.Minute, IdleTTL: 10 * time.Minute})
	s.Add("a", Meta{}, 0, Values{1})
	s.Add("b", Meta{}, 5, Values{1})
	for w := int64(0); w <= 10; w++ {
		closeAll(s, w)
	}
	if s.Len() != 2 {
		t.Fatalf("forgotten too early: %d tracked", s.Len())
	}
	closeAll(s, 11) // a is 11 windows old: > 10 minutes
	if _, _, ok := s.Get("a", 12); ok {
		t.Error("a not forgotten after IdleTTL")
	}
	if _, _, ok := s.Get("b", 12); !ok {
		t.Error("b forgotten early")
	}
	if st := s.Stats(); st.EvictedTTL != 1 || st.Tracked != 1 || st.Bytes <= 0 {
		t.Errorf("Stats = %+v", st)
	}
	if obs := s.Add("a", Meta{}, 12, Values{1}); !obs.New || !obs.Baseline[0].Empty() {
		t.Errorf("a came back with history: %+v", obs)
	}

	// Incremental: each close looks at max(64, ceil(n/64)) principals, n the
	// shard's size when the pass began, so a pass takes at most 64 closes.
	// The pass that began at window 0 (before anything expired) ends within
	// 64 closes; the next one catches the principals it passed early.
	const n = 10_000
	s = New(Options{Shards: 1, IdleTTL: time.Minute})
	for i := range n {
		s.Add(fmt.Sprint(i), Meta{}, 0, Values{1})
	}
	closeAll(s, 0)
	closeAll(s, 100)
	if ev := s.Stats().EvictedTTL; ev != (n+63)/64 {
		t.Errorf("first sweep evicted %d, want %d", ev, (n+63)/64)
	}
	for w := int64(101); w < 100+64+2; w++ {
		closeAll(s, w)
	}
	if s.Len() != 0 {
		t.Errorf("%d principals survived the sweep", s.Len())
	}
}
