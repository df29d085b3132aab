package baseline

import (
	"github.com/cespare/xxhash/v2"
	"sync"
	"time"
)

// Meta is what the store keeps about a principal besides its numbers: enough
// for the detection stage to group peers and label alerts.
type Meta struct {
	Type    uint8  // ingest.PrincipalType
	Account string // AWS account id
}

// Options configures a Store. Zero values get defaults.
type Options struct {
	Shards        int           // logical shards, a power of two; default 256. Fixed for the life of the data: it decides routing
	Window        time.Duration // window length; default 1m
	HalfLife      time.Duration // baseline half-life; default 7 days
	MaxPrincipals int           // cap on tracked principals; 0 means 1,000,000
	IdleTTL       time.Duration // forget a principal idle this long; 0 means 30 days
}

func (o *Options) defaults() {
	if o.Shards <= 0 {
		o.Shards = 256
	}
	if o.Shards&(o.Shards-1) != 0 {
		n := 1
		for n < o.Shards {
			n <<= 1
		}
		o.Shards = n
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.HalfLife == 0 {
		o.HalfLife = 7 * 24 * time.Hour
	}
	if o.MaxPrincipals <= 0 {
		o.MaxPrincipals = 1_000_000
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = 30 * 24 * time.Hour
	}
}

// Observation is what Add returns: the principal's running values in the
// window just updated and its baseline as that window opened.
type Observation struct {
	Window   int64
	Running  Values            // the window's values so far, this update included
	Baseline [NumMetrics]Stats // Stats.At(window) per metric
	Meta     Meta              //
	New      bool              // the principal was not tracked before this call
}

// Closed is one principal's finished window, as handed to CloseWindow's callback.
type Closed struct {
	Key    string
	Meta   Meta
	Window int64
	Values Values
	Before [NumMetrics]Stats // baseline before this window's values were folded in
}

// Store keeps per-principal baselines and open-window accumulators, split into
// a fixed number of logical shards by a hash of the principal key. Callers
// that need determinism route every principal's updates through one goroutine
// per shard (ShardOf); the store is safe for concurrent use either way.
type Store struct {
	opts   Options
	decay  Decay
	shards []shard
}

type shard struct {
	mu      sync.Mutex
	entries map[string]*entry
	open    []*entry // entries with at least one open window, in order of first activity
	_       [64]byte // keep neighbouring shard locks off one cache line
}

type entry struct {
	meta   Meta
	stats  [NumMetrics]Stats
	wins   []openWindow // open windows, oldest first
	isOpen bool
}

type openWindow struct {
	w    int64
	vals Values
}

// New returns an empty store.
func New(opts Options) *Store {
	opts.defaults()
	s := &Store{opts: opts, decay: NewDecay(opts.HalfLife, opts.Window), shards: make([]shard, opts.Shards)}
	for i := range s.shards {
		s.shards[i].entries = make(map[string]*entry)
	}
	return s
}

// Options returns the options in force, defaults filled in.
func (s *Store) Options() Options { return s.opts }

// Decay returns the per-window decay derived from the options.
func (s *Store) Decay() Decay { return s.decay }

// NumShards returns the number of logical shards.
func (s *Store) NumShards() int { return len(s.shards) }

// ShardOf returns the logical shard that owns key.
func (s *Store) ShardOf(key string) int {
	// A fixed hash (not a per-process seed): routing must be the same in every
	// process so that replays are byte-identical and snapshots restore anywhere.
	return int(xxhash.Sum64String(key) & uint64(len(s.shards)-1))
}

// Add adds delta to key's accumulator for window w and returns the running
// values and baseline for that window.
func (s *Store) Add(key string, meta Meta, w int64, delta Values) Observation {
	sh := &s.shards[s.ShardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries[key]
	if !ok {
		e = &entry{meta: meta}
		sh.entries[key] = e
	}
	var ow *openWindow
	for i := range e.wins {
		if e.wins[i].w == w {
			ow = &e.wins[i]
			break
		}
	}
	if ow == nil {
		// Keep wins sorted by window.
		i := len(e.wins)
		for i > 0 && e.wins[i-1].w > w {
			i--
		}
		e.wins = append(e.wins, openWindow{})
		copy(e.wins[i+1:], e.wins[i:])
		e.wins[i] = openWindow{w: w}
		ow = &e.wins[i]
	}
	for m := range delta {
		ow.vals[m] += delta[m]
	}
	if !e.isOpen {
		e.isOpen = true
		sh.open = append(sh.open, e)
	}
	obs := Observation{Window: w, Running: ow.vals, Meta: e.meta, New: !ok}
	for m := range e.stats {
		obs.Baseline[m] = e.stats[m].At(s.decay, w)
	}
	return obs
}

// CloseWindow folds every open window <= w of the principals in shard into
// their baselines, in window order, calling fn (if not nil) for each
// principal-window before it is folded. Principals are visited in the order
// they first became active, so the sequence is deterministic for a
// deterministic input.
func (s *Store) CloseWindow(shardIdx int, w int64, fn func(*Closed)) {
	sh := &s.shards[shardIdx]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	keep := sh.open[:0]
	var c Closed
	for _, e := range sh.open {
		n := 0
		for _, ow := range e.wins {
			if ow.w > w {
				break
			}
			if fn != nil {
				c = Closed{Meta: e.meta, Window: ow.w, Values: ow.vals, Before: e.stats}
				c.Key = s.keyOf(sh, e)
				fn(&c)
			}
			for m := range e.stats {
				e.stats[m].Observe(s.decay, ow.w, ow.vals[m])
			}
			n++
		}
		e.wins = append(e.wins[:0], e.wins[n:]...)
		if len(e.wins) > 0 {
			keep = append(keep, e)
		} else {
			e.isOpen = false
		}
	}
	for i := len(keep); i < len(sh.open); i++ {
		sh.open[i] = nil
	}
	sh.open = keep
}

// keyOf finds the key of an entry; the skeleton stores no back-reference.
func (s *Store) keyOf(sh *shard, e *entry) string {
	for k, v := range sh.entries {
		if v == e {
			return k
		}
	}
	return ""
}

// Get returns key's baseline as window w opens, and whether key is tracked.
func (s *Store) Get(key string, w int64) ([NumMetrics]Stats, Meta, bool) {
	sh := &s.shards[s.ShardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries[key]
	if !ok {
		return [NumMetrics]Stats{}, Meta{}, false
	}
	var out [NumMetrics]Stats
	for m := range e.stats {
		out[m] = e.stats[m].At(s.decay, w)
	}
	return out, e.meta, true
}

// Len returns the number of tracked principals.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].entries)
		s.shards[i].mu.Unlock()
	}
	return n
}
