package baseline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// dump returns every principal's AppendEntry by key.
func dump(s *Store) map[string][]byte {
	m := make(map[string][]byte)
	for _, k := range s.AppendKeys(nil) {
		b, ok := s.AppendEntry(nil, k)
		if !ok {
			panic("AppendKeys listed an untracked key " + k)
		}
		m[k] = b
	}
	return m
}

// trace drives s like runWorkload and records everything observable: each
// CloseWindow callback (key, window, values, baseline bits) in order, each
// change-hook call, and each Add's observation.
func trace(s *Store, seed uint64, from, windows int64) []byte {
	var out bytes.Buffer
	s.SetChangeHook(func(k string) { fmt.Fprintf(&out, "hook %s\n", k) })
	defer s.SetChangeHook(nil)
	rng := rand.New(rand.NewPCG(seed, seed))
	z := rand.NewZipf(rng, 1.2, 1, 5000)
	for w := from; w < from+windows; w++ {
		for range 200 {
			k := fmt.Sprintf("arn:aws:sts::1234:assumed-role/r/%d", z.Uint64())
			obs := s.Add(k, Meta{Type: 3, Account: "1234"}, w-int64(rng.IntN(2)), Values{1, float64(rng.IntN(2)), float64(rng.IntN(1000))})
			fmt.Fprintf(&out, "add %s %v %v %v\n", k, obs.Rejected, obs.New, obs.Running)
		}
		for sh := range s.NumShards() {
			s.CloseWindow(sh, w-1, func(c *Closed) {
				fmt.Fprintf(&out, "close %s %d %v %v\n", c.Key, c.Window, c.Values, c.Before)
			})
		}
	}
	return out.Bytes()
}

// TestEntryRoundTrip: a store rebuilt from its entries, put in random order
// (with stale versions, replacements and tombstones on the way), and its
// shard state is the same store: the same entries, the same whole-store
// snapshot (eviction order, open order, RNG and sweep position), and the
// same future, callback by callback.
func TestEntryRoundTrip(t *testing.T) {
	opts := Options{Shards: 16, MaxPrincipals: 800, IdleTTL: 20 * time.Minute}
	orig := snapshotFixture(t, opts)
	stale := dump(orig)
	trace(orig, 3, 36, 5) // evicts, moves, folds: stale is now out of date
	want := dump(orig)

	got := New(opts)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	rng := rand.New(rand.NewPCG(9, 9))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for i, k := range keys {
		if old, ok := stale[k]; ok && i%3 == 0 {
			if err := got.PutEntry(k, old); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			if err := got.PutEntry(k, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := got.PutEntry(k, want[k]); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range stale {
		if _, ok := want[k]; !ok { // evicted since: put, then tombstoned
			if err := got.PutEntry(k, v); err != nil {
				t.Fatal(err)
			}
			if err := got.PutEntry(k, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := got.PutShardState(orig.AppendShardState(nil)); err != nil {
		t.Fatal(err)
	}
	var hooked []string
	got.SetChangeHook(func(k string) { hooked = append(hooked, k) })
	gotDump := dump(got)
	if len(hooked) != 0 {
		t.Errorf("a consistent restore reported %d changes", len(hooked))
	}
	got.SetChangeHook(nil)
	if len(gotDump) != len(want) {
		t.Fatalf("%d entries, want %d", len(gotDump), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(gotDump[k], v) {
			t.Fatalf("%q: %x, want %x", k, gotDump[k], v)
		}
	}
	if !bytes.Equal(got.AppendShardState(nil), orig.AppendShardState(nil)) {
		t.Fatal("shard state differs")
	}
	if !bytes.Equal(encode(t, got), encode(t, orig)) {
		t.Fatal("whole-store snapshot differs: order, RNG or sweep position not restored")
	}
	if gs, os := got.Stats(), orig.Stats(); gs.Tracked != os.Tracked || gs.Open != os.Open || gs.Bytes != os.Bytes {
		t.Fatalf("Stats %+v, want %+v", gs, os)
	}
	if a, b := trace(got, 4, 41, 40), trace(orig, 4, 41, 40); !bytes.Equal(a, b) {
		t.Fatal("restored store's future differs from the original's")
	}
}

// TestChangeHookCoversEveryChange: the keys of Add, of CloseWindow's callback
// and of the change hook are every principal whose AppendEntry changed, so a
// changelog written from them stays equal to a full dump, through cap and
// TTL evictions.
func TestChangeHookCoversEveryChange(t *testing.T) {
	s := New(Options{Shards: 4, MaxPrincipals: 60, IdleTTL: 10 * time.Minute})
	log := map[string][]byte{}
	touched := map[string]bool{}
	s.SetChangeHook(func(k string) { touched[k] = true })
	flush := func() {
		for k := range touched {
			if b, ok := s.AppendEntry(nil, k); ok {
				log[k] = b
			} else {
				delete(log, k)
			}
		}
		clear(touched)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for w := range int64(200) {
		for range 8 {
			k := fmt.Sprint("p", rng.IntN(150))
			if obs := s.Add(k, Meta{Account: "a"}, w, Values{1}); !obs.Rejected {
				touched[k] = true
			}
		}
		for sh := range s.NumShards() {
			s.CloseWindow(sh, w-1, func(c *Closed) { touched[c.Key] = true })
		}
		if w%2 == 0 {
			flush()
			full := dump(s)
			if len(full) != len(log) {
				t.Fatalf("window %d: changelog has %d keys, store %d", w, len(log), len(full))
			}
			for k, v := range full {
				if !bytes.Equal(log[k], v) {
					t.Fatalf("window %d: %q changed unreported", w, k)
				}
			}
		}
	}
	if st := s.Stats(); st.EvictedCap == 0 || st.EvictedTTL == 0 {
		t.Fatalf("no evictions to prove anything: %+v", st)
	}
}

// TestOpenSeqRenumber: when the open list's sequence numbers run out they are
// renumbered in order and reported, and the order holds.
func TestOpenSeqRenumber(t *testing.T) {
	s := New(Options{Shards: 1})
	s.Add("a", Meta{}, 0, Values{1})
	s.Add("b", Meta{}, 0, Values{1})
	sh := &s.shards[0]
	sh.open[1].st.openSeq = math.MaxUint32
	var hooked []string
	s.SetChangeHook(func(k string) { hooked = append(hooked, k) })
	s.Add("c", Meta{}, 0, Values{1})
	if fmt.Sprint(hooked) != "[a b]" {
		t.Errorf("hook calls %v, want [a b]", hooked)
	}
	for i, want := range []string{"a", "b", "c"} {
		if e := sh.open[i]; e.key != want || e.st.openSeq != uint32(i+1) {
			t.Errorf("open[%d] = %s/%d, want %s/%d", i, e.key, e.st.openSeq, want, i+1)
		}
	}
}

// TestPutEntryErrors: each malformed input fails with its sentinel and leaves
// the store unchanged.
func TestPutEntryErrors(t *testing.T) {
	src := New(Options{Shards: 4})
	for w := int64(0); w < 3; w++ {
		src.Add("k", Meta{Type: 2, Account: "acct"}, w, Values{1, 2, 3})
		src.Add("k", Meta{}, w+5, Values{4})
	}
	for sh := range src.NumShards() {
		src.CloseWindow(sh, 1, nil)
	}
	good, _ := src.AppendEntry(nil, "k")
	with := func(i int, b byte) []byte { v := bytes.Clone(good); v[i] = b; return v }
	// Forged window count: the bound by remaining length applies.
	var manyWins []byte
	manyWins = append(manyWins, entryVersion, 0, 0, 0, 0, 0)
	manyWins = binary.AppendUvarint(manyWins, 1<<40)
	cases := []struct {
		name string
		key  string
		data []byte
		want error
	}{
		{"version", "k", with(0, 7), ErrSnapshotVersion},
		{"empty", "k", []byte{}, ErrSnapshotCorrupt},
		{"truncated", "k", good[:len(good)-1], ErrSnapshotCorrupt},
		{"trailing", "k", append(bytes.Clone(good), 1), ErrSnapshotCorrupt},
		{"account past end", "k", with(2, 0x7f), ErrSnapshotCorrupt},
		{"forged window count", "k", manyWins, ErrSnapshotCorrupt},
		{"key too long", string(make([]byte, MaxKeyLen+1)), good, ErrSnapshotCorrupt},
		{"open seq 0", "k", func() []byte {
			var e entry
			e.key = "k"
			e.window(1).vals[0] = 1
			return appendEntry(nil, &e) // openSeq 0 with an open window
		}(), ErrSnapshotCorrupt},
		{"windows not increasing", "k", func() []byte {
			e := &entry{key: "k"}
			e.window(1)
			e.window(2)
			e.st.openSeq = 1
			b := appendEntry(nil, e)
			// The last window's gap-1 is the fourth-last byte (3 one-byte
			// values follow); make the gap wrap around.
			b = append(b[:len(b)-4], binary.AppendUvarint(nil, math.MaxUint64)...)
			return append(b, 0, 0, 0)
		}(), ErrSnapshotCorrupt},
	}
	s := New(Options{Shards: 4})
	if err := s.PutEntry("k", good); err != nil {
		t.Fatal(err)
	}
	before := dump(s)
	for _, tc := range cases {
		if err := s.PutEntry(tc.key, tc.data); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if after := dump(s); len(after) != 1 || !bytes.Equal(after["k"], before["k"]) {
		t.Error("a failed PutEntry changed the store")
	}

	state := src.AppendShardState(nil)
	for _, tc := range []struct {
		name string
		opts Options
		data []byte
		want error
	}{
		{"shards", Options{Shards: 8}, state, ErrSnapshotIncompatible},
		{"window", Options{Shards: 4, Window: time.Hour}, state, ErrSnapshotIncompatible},
		{"half-life", Options{Shards: 4, HalfLife: time.Hour}, state, ErrSnapshotIncompatible},
		{"version", Options{Shards: 4}, append([]byte{9}, state[1:]...), ErrSnapshotVersion},
		{"truncated", Options{Shards: 4}, state[:len(state)-1], ErrSnapshotCorrupt},
		{"index past shards", Options{Shards: 4}, append(bytes.Clone(state[:len(state)-1]), 1, 7, 0, 0, 0), ErrSnapshotCorrupt},
	} {
		if err := New(tc.opts).PutShardState(tc.data); !errors.Is(err, tc.want) {
			t.Errorf("shard state %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzPutEntry: no input makes PutEntry or PutShardState panic or fail with
// anything but the sentinels; what they accept re-encodes to bytes that put
// back to the same bytes; and the store goes on working.
func FuzzPutEntry(f *testing.F) {
	s := snapshotFixture(f, Options{Shards: 4, MaxPrincipals: 100})
	for i, k := range s.AppendKeys(nil) {
		if i%10 == 0 {
			b, _ := s.AppendEntry(nil, k)
			f.Add(k, b, false)
		}
	}
	f.Add("", s.AppendShardState(nil), true)
	f.Fuzz(func(t *testing.T, key string, data []byte, shardState bool) {
		opts := Options{Shards: 4, MaxPrincipals: 100}
		s := New(opts)
		put, get := func(s *Store, b []byte) error { return s.PutEntry(key, b) }, func(s *Store) []byte {
			b, _ := s.AppendEntry(nil, key)
			return b
		}
		if shardState {
			put, get = func(s *Store, b []byte) error { return s.PutShardState(b) }, func(s *Store) []byte { return s.AppendShardState(nil) }
		}
		if err := put(s, data); err != nil {
			if !errors.Is(err, ErrSnapshotCorrupt) && !errors.Is(err, ErrSnapshotVersion) && !errors.Is(err, ErrSnapshotIncompatible) {
				t.Fatalf("error matches no sentinel: %v", err)
			}
			return
		}
		first := get(s)
		again := New(opts)
		if err := put(again, first); err != nil {
			t.Fatalf("re-encoding does not put back: %v", err)
		}
		if second := get(again); !bytes.Equal(first, second) {
			t.Fatalf("round trip:\n%x\n%x", first, second)
		}
		for w := int64(0); w < 3; w++ {
			s.Add(key, Meta{}, w, Values{1})
			s.Add(fmt.Sprint(w), Meta{}, w, Values{1})
			for sh := range s.NumShards() {
				s.CloseWindow(sh, w, func(*Closed) {})
			}
		}
	})
}
