package baseline

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

func xxhashOf(s string) uint64 { return xxhash.Sum64String(s) }

// TestStoreMatchesStats proves the store's packed statistics are
// bit-identical to Stats.Observe per metric (gaps, late windows, several
// open windows included), and that CloseWindow hands out the right key,
// values and baseline-as-of-window.
func TestStoreMatchesStats(t *testing.T) {
	s := New(Options{Shards: 4})
	d := s.Decay()
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"alice", "bob", "carol", "dave", "eve"}
	want := map[string]*[NumMetrics]Stats{}
	pending := map[string]map[int64]Values{}
	for _, k := range keys {
		want[k] = new([NumMetrics]Stats)
		pending[k] = map[int64]Values{}
	}
	for w := int64(0); w < 300; w++ {
		for range 20 {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(7) == 0 && k == "eve" {
				continue // eve is mostly idle
			}
			win := w
			switch rng.IntN(10) {
			case 0:
				win = w - 1 - int64(rng.IntN(3)) // late: possibly already closed
			case 1:
				win = w + 1 // early: a second and third open window
			}
			delta := Values{float64(rng.IntN(5)), float64(rng.IntN(2)), float64(rng.IntN(1e6))}
			obs := s.Add(k, Meta{Type: 3, Account: "123456789012"}, win, delta)
			p := pending[k][win]
			for m := range p {
				p[m] += delta[m]
			}
			pending[k][win] = p
			if obs.Running != p {
				t.Fatalf("%s w%d: Running %v, want %v", k, win, obs.Running, p)
			}
			for m := range want[k] {
				if got, exp := obs.Baseline[m], want[k][m].At(d, win); got != exp {
					t.Fatalf("%s w%d %v: Baseline %+v, want %+v", k, win, Metric(m), got, exp)
				}
			}
		}
		if w%3 == 2 { // close in batches, so several windows are open at once
			for sh := range s.NumShards() {
				s.CloseWindow(sh, w, func(c *Closed) {
					p, ok := pending[c.Key][c.Window]
					if !ok || c.Values != p {
						t.Fatalf("closed %s w%d values %v, want %v (ok=%v)", c.Key, c.Window, c.Values, p, ok)
					}
					if c.Meta != (Meta{Type: 3, Account: "123456789012"}) {
						t.Fatalf("closed meta %+v", c.Meta)
					}
					if c.Late != (!want[c.Key][0].Empty() && c.Window <= want[c.Key][0].Last) {
						t.Fatalf("closed %s w%d: Late=%v", c.Key, c.Window, c.Late)
					}
					for m := range p {
						if c.Before[m] != want[c.Key][m].At(d, c.Window) {
							t.Fatalf("closed %s w%d: Before %+v", c.Key, c.Window, c.Before[m])
						}
						want[c.Key][m].Observe(d, c.Window, p[m])
					}
					delete(pending[c.Key], c.Window)
				})
			}
		}
	}
	for _, k := range keys {
		got, meta, ok := s.Get(k, 400)
		if !ok || meta.Account != "123456789012" {
			t.Fatalf("Get(%s) = %v, %+v", k, ok, meta)
		}
		for m := range got {
			if exp := want[k][m].At(d, 400); got[m] != exp {
				t.Errorf("%s %v: %+v, want %+v", k, Metric(m), got[m], exp)
			}
		}
	}
	if _, _, ok := s.Get("mallory", 1); ok {
		t.Error("Get of an unknown key reported tracked")
	}
	st := s.Stats()
	if st.Tracked != int64(len(keys)) || s.Len() != len(keys) || st.Updates == 0 || st.Late == 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestOpenWindowStorage exercises the inline and spilled representations of
// open windows: out-of-order opens, growth past two, partial closes, and the
// return to inline storage.
func TestOpenWindowStorage(t *testing.T) {
	var e entry
	order := []int64{5, 3, 9, 4, 7, 3, 9, 1}
	for _, w := range order {
		e.window(w).vals[0]++
	}
	check := func(want ...int64) {
		t.Helper()
		wins := e.windows()
		if len(wins) != len(want) {
			t.Fatalf("windows %v, want %v", wins, want)
		}
		for i := range want {
			if wins[i].w != want[i] {
				t.Fatalf("windows %v, want %v", wins, want)
			}
		}
	}
	check(1, 3, 4, 5, 7, 9)
	if e.window(3).vals[0] != 2 || e.window(9).vals[0] != 2 {
		t.Error("repeated window not accumulated")
	}
	e.dropWindows(2)
	check(4, 5, 7, 9)
	e.dropWindows(2)
	check(7, 9)
	if e.more != nil {
		t.Error("two windows should be back inline")
	}
	e.window(8)
	check(7, 8, 9)
	e.dropWindows(3)
	check()
	if e.more != nil || e.nwin != 0 {
		t.Error("empty entry still holds windows")
	}
	e.window(2)
	e.window(1)
	check(1, 2)
	e.dropWindows(1)
	check(2)
}

func TestAddSanitizes(t *testing.T) {
	s := New(Options{Shards: 1})
	obs := s.Add("k", Meta{}, 0, Values{math.NaN(), math.Inf(1), 3})
	if obs.Running != (Values{0, 0, 3}) {
		t.Errorf("non-finite deltas recorded: %v", obs.Running)
	}
	long := strings.Repeat("x", MaxKeyLen+1)
	if obs := s.Add(long, Meta{}, 0, Values{1}); !obs.Rejected {
		t.Error("over-long key accepted")
	}
	if obs := s.Add("k2", Meta{Account: long}, 0, Values{1}); !obs.Rejected {
		t.Error("over-long account accepted")
	}
	if st := s.Stats(); st.Rejected != 2 || st.Tracked != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestOptionsDefaults(t *testing.T) {
	s := New(Options{Shards: 100})
	o := s.Options()
	if o.Shards != 128 || o.Window != time.Minute || o.HalfLife != 7*24*time.Hour || o.MaxPrincipals != 1_000_000 || o.IdleTTL != 30*24*time.Hour {
		t.Errorf("defaults: %+v", o)
	}
	if s.NumShards() != 128 {
		t.Errorf("NumShards = %d", s.NumShards())
	}
	// ShardOf is a fixed function of the key: pinned so that a change (which
	// would re-route every principal and invalidate snapshots) fails loudly.
	s256 := New(Options{})
	for key, want := range map[string]int{"alice": 73, "arn:aws:iam::123456789012:role/admin": 186, "": 153} {
		if got := s256.ShardOf(key); got != want {
			t.Errorf("ShardOf(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestConcurrentAdd runs many goroutines against one store (under -race in
// CI) and checks that no update is lost.
func TestConcurrentAdd(t *testing.T) {
	s := New(Options{Shards: 8})
	const workers, perWorker, keys = 8, 2000, 100
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				s.Add(fmt.Sprintf("p%d", (g*perWorker+i)%keys), Meta{}, 1, Values{1, 0, 2})
				if i%500 == 0 {
					_ = s.Stats()
				}
			}
		}()
	}
	wg.Wait()
	var total Values
	for sh := range s.NumShards() {
		s.CloseWindow(sh, 1, func(c *Closed) {
			for m := range total {
				total[m] += c.Values[m]
			}
		})
	}
	if total != (Values{workers * perWorker, 0, 2 * workers * perWorker}) {
		t.Errorf("totals %v", total)
	}
	if st := s.Stats(); st.Tracked != keys || st.Open != 0 || st.Updates != workers*perWorker {
		t.Errorf("Stats = %+v", st)
	}
}

// runWorkload drives a store with a deterministic pseudo-random workload of
// Zipf-distributed principals, closing every window, and returns its snapshot.
func runWorkload(t testing.TB, s *Store, seed uint64, from, windows int64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	z := rand.NewZipf(rng, 1.2, 1, 5000)
	for w := from; w < from+windows; w++ {
		for range 200 {
			k := fmt.Sprintf("arn:aws:sts::1234:assumed-role/r/%d", z.Uint64())
			s.Add(k, Meta{Type: 3, Account: "1234"}, w, Values{1, float64(rng.IntN(2)), float64(rng.IntN(1000))})
		}
		for sh := range s.NumShards() {
			s.CloseWindow(sh, w, nil)
		}
	}
	var buf bytes.Buffer
	if err := s.EncodeSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDeterministic: the same input gives byte-identical state, evictions
// included.
func TestDeterministic(t *testing.T) {
	opts := Options{Shards: 16, MaxPrincipals: 800, IdleTTL: 20 * time.Minute}
	a := runWorkload(t, New(opts), 7, 0, 60)
	b := runWorkload(t, New(opts), 7, 0, 60)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs of the same input differ")
	}
	if st := New(opts).Stats(); st.Tracked != 0 {
		t.Fatal("fresh store not empty")
	}
}

// TestHashCollisionChain: keys whose hashes collide (forced here; 64-bit
// collisions are too rare to find) are all found and removed correctly.
func TestHashCollisionChain(t *testing.T) {
	s := New(Options{Shards: 1})
	sh := &s.shards[0]
	const h = 42
	es := []*entry{{key: "a"}, {key: "b"}, {key: "c"}}
	for _, e := range es {
		sh.insert(h, e)
	}
	for _, e := range es {
		if sh.find(h, e.key) != e {
			t.Fatalf("%s not found", e.key)
		}
	}
	if sh.find(h, "d") != nil {
		t.Fatal("found an absent key")
	}
	// remove rehashes the key, so point the real hashes at the chain too.
	for _, e := range es {
		sh.entries[xxhashOf(e.key)] = sh.entries[h]
	}
	sh.remove(es[1]) // middle of the chain under its own hash
	if got := sh.find(xxhashOf("b"), "b"); got != nil {
		t.Fatal("removed key still found")
	}
	if sh.find(xxhashOf("a"), "a") == nil || sh.find(xxhashOf("c"), "c") == nil {
		t.Fatal("neighbours lost")
	}
	if len(sh.all) != 2 || sh.tracked.Load() != 2 {
		t.Fatalf("all=%d tracked=%d", len(sh.all), sh.tracked.Load())
	}
}
