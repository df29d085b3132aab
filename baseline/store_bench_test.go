package baseline

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// mutexMapStore is the obvious alternative the sharded Store must beat: one
// sync.Mutex around one map, doing the same work per update (same entry,
// same open-window accumulation, same baseline view).
type mutexMapStore struct {
	mu    sync.Mutex
	m     map[string]*entry
	decay Decay
}

func newMutexMapStore(d Decay) *mutexMapStore {
	return &mutexMapStore{m: make(map[string]*entry), decay: d}
}

func (s *mutexMapStore) Add(key string, meta Meta, w int64, delta Values) Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		e = &entry{key: strings.Clone(key), account: strings.Clone(meta.Account), typ: meta.Type, lastSeen: w}
		s.m[e.key] = e
	}
	ow := e.window(w)
	for m := range delta {
		ow.vals[m] += delta[m]
	}
	if w > e.lastSeen {
		e.lastSeen = w
	}
	return Observation{Window: w, Running: ow.vals, Baseline: e.st.at(s.decay, w), Meta: Meta{Type: e.typ, Account: e.account}, New: !ok}
}

func (s *mutexMapStore) closeAll(w int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.m {
		wins := e.windows()
		n := 0
		for ; n < len(wins) && wins[n].w <= w; n++ {
			e.st.observe(s.decay, wins[n].w, wins[n].vals)
		}
		e.dropWindows(n)
	}
}

type adder interface {
	Add(key string, meta Meta, w int64, delta Values) Observation
}

func principalKey(i int) string {
	return fmt.Sprintf("arn:aws:sts::123456789012:assumed-role/service-role-%07d/session", i)
}

// benchWorld is a key population with a Zipf-distributed stream of indices
// into it (s = 1.1: a few principals make most of the traffic), and both
// stores populated with every principal's history, built once per size.
type benchWorld struct {
	keys   []string
	stream []uint32 // Zipf indices; length a power of two
	store  *Store
	mmap   *mutexMapStore
}

var (
	worldsMu sync.Mutex
	worlds   = map[int]*benchWorld{}
)

func world(b *testing.B, n int) *benchWorld {
	worldsMu.Lock()
	defer worldsMu.Unlock()
	if w, ok := worlds[n]; ok {
		return w
	}
	b.StopTimer()
	defer b.StartTimer()
	w := &benchWorld{keys: make([]string, n), stream: make([]uint32, 1<<20)}
	for i := range w.keys {
		w.keys[i] = principalKey(i)
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(n-1))
	for i := range w.stream {
		w.stream[i] = uint32(z.Uint64())
	}
	// History: every principal active in windows 0 and 1, both closed, so
	// updates in window 2 see a two-window baseline (and no idle gap, the
	// common case for a principal that is active right now).
	w.store = New(Options{MaxPrincipals: 2 * n})
	w.mmap = newMutexMapStore(w.store.Decay())
	for win := int64(0); win < 2; win++ {
		for i, k := range w.keys {
			d := Values{float64(i%7 + 1), float64(i % 2), float64(i % 1000)}
			w.store.Add(k, Meta{Type: 3, Account: "123456789012"}, win, d)
			w.mmap.Add(k, Meta{Type: 3, Account: "123456789012"}, win, d)
		}
		closeAll(w.store, win)
		w.mmap.closeAll(win)
	}
	worlds[n] = w
	return w
}

var sink atomic.Int64

// BenchmarkStoreAdd compares the sharded Store with the one-mutex map on a
// Zipf key stream, at 10k and 1M principals. Run with -cpu 1,2:
//
//	store, mutexmap: b.RunParallel, every goroutine takes any key;
//	store-routed, mutexmap-routed: one goroutine per group of shards
//	(shard % GOMAXPROCS), the way the detection stage drives the store.
func BenchmarkStoreAdd(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		name := fmt.Sprintf("principals=%dk", n/1000)
		b.Run(name+"/store", func(b *testing.B) { benchParallel(b, n, func(w *benchWorld) adder { return w.store }) })
		b.Run(name+"/mutexmap", func(b *testing.B) { benchParallel(b, n, func(w *benchWorld) adder { return w.mmap }) })
		b.Run(name+"/store-routed", func(b *testing.B) { benchRouted(b, n, func(w *benchWorld) adder { return w.store }) })
		b.Run(name+"/mutexmap-routed", func(b *testing.B) { benchRouted(b, n, func(w *benchWorld) adder { return w.mmap }) })
	}
}

func benchParallel(b *testing.B, n int, pick func(*benchWorld) adder) {
	w := world(b, n)
	st := pick(w)
	meta := Meta{Type: 3, Account: "123456789012"}
	var next atomic.Uint32
	mask := uint32(len(w.stream) - 1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1) * 7919 // each goroutine starts elsewhere in the stream
		var acc float64
		for pb.Next() {
			obs := st.Add(w.keys[w.stream[i&mask]], meta, 2, Values{1, 0, 100})
			acc += obs.Running[0]
			i++
		}
		sink.Add(int64(acc))
	})
}

func benchRouted(b *testing.B, n int, pick func(*benchWorld) adder) {
	w := world(b, n)
	st := pick(w)
	meta := Meta{Type: 3, Account: "123456789012"}
	p := runtime.GOMAXPROCS(0)
	// Partition the stream by owner, as the detection stage's sequencer does.
	parts := make([][]uint32, p)
	for _, k := range w.stream {
		g := w.store.ShardOf(w.keys[k]) % p
		parts[g] = append(parts[g], k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := parts[g]
			var acc float64
			for i := range b.N / p {
				obs := st.Add(w.keys[part[i%len(part)]], meta, 2, Values{1, 0, 100})
				acc += obs.Running[0]
			}
			sink.Add(int64(acc))
		}()
	}
	wg.Wait()
}

// BenchmarkMemoryPerPrincipal builds a store of 1M principals, each with all
// three metrics' history and one open window, and reports the heap it holds
// (runtime.ReadMemStats after GC) per principal and per principal-metric, next
// to the store's own estimate (StoreStats.Bytes). Keys are 69-byte ARNs.
// Run with -benchtime=1x.
func BenchmarkMemoryPerPrincipal(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		meta := Meta{Type: 3, Account: "123456789012"}
		for win := int64(0); win < 3; win++ {
			for i := range n {
				s.Add(principalKey(i), meta, win, Values{float64(i%7 + 1), float64(i % 3), float64(i)})
			}
			if win < 2 {
				closeAll(s, win)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(heap/n, "B/principal")
		b.ReportMetric(heap/n/float64(NumMetrics), "B/principal-metric")
		b.ReportMetric(float64(s.Stats().Bytes)/n, "est-B/principal")
		runtime.KeepAlive(s)
	}
}

// BenchmarkSnapshot measures writing and reading a snapshot of 100k
// principals (bytes are the snapshot's size).
func BenchmarkSnapshot(b *testing.B) {
	s := New(Options{})
	for win := int64(0); win < 2; win++ {
		for i := range 100_000 {
			s.Add(principalKey(i), Meta{Account: "123456789012"}, win, Values{1, 2, 3})
		}
		if win == 0 {
			closeAll(s, 0)
		}
	}
	var buf strings.Builder
	if err := s.EncodeSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.String()
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for range b.N {
			var w strings.Builder
			w.Grow(len(data))
			if err := s.EncodeSnapshot(&w); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for range b.N {
			if _, err := DecodeSnapshot(strings.NewReader(data), Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
