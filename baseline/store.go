package baseline

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
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
	MaxPrincipals int           // cap on tracked principals; 0 means 1,000,000 (enforced per shard, see Store)
	IdleTTL       time.Duration // forget a principal idle this long in event time; 0 means 30 days
}

// maxShards bounds Options.Shards so that a shard index fits the snapshot
// format and a typo cannot allocate gigabytes of empty shards.
const maxShards = 1 << 16

func (o *Options) defaults() {
	if o.Shards <= 0 {
		o.Shards = 256
	}
	if o.Shards > maxShards {
		o.Shards = maxShards
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
	// Late is set when Window is at or before the newest window already
	// folded into the baseline: the values will be added to that newest
	// window when Window closes (see Stats.Observe), and Baseline already
	// covers Window.
	Late bool
	// Rejected is set when nothing was recorded: the key or account is
	// longer than MaxKeyLen, or the principal was not tracked, its shard is
	// at its cap and every principal in the shard has an open window (none
	// may be evicted). Counted in StoreStats.Rejected.
	Rejected bool
}

// Closed is one principal's finished window, as handed to CloseWindow's callback.
type Closed struct {
	Key    string
	Meta   Meta
	Window int64
	Values Values
	Before [NumMetrics]Stats // baseline before this window's values were folded in, as of Window (Stats.At)
	Late   bool              // Window was at or before the newest window already folded in (see Observation.Late)
}

// StoreStats are the store's counters, for the metrics package. They are
// summed over per-shard counters when read, without taking shard locks, so a
// reading is not one instant across shards.
type StoreStats struct {
	Tracked    int64 // principals tracked now
	Open       int64 // principals with at least one open window now
	Updates    int64 // Add calls that recorded something
	Late       int64 // Add calls for a window already folded in
	Rejected   int64 // Add calls that recorded nothing (Observation.Rejected)
	EvictedTTL int64 // principals forgotten after IdleTTL without activity
	EvictedCap int64 // principals evicted to admit a new one at the cap
	Bytes      int64 // estimate of the heap held by tracked principals
}

// Merge adds b's counts to s, for callers that keep one store per partition.
func (s *StoreStats) Merge(b StoreStats) {
	s.Tracked += b.Tracked
	s.Open += b.Open
	s.Updates += b.Updates
	s.Late += b.Late
	s.Rejected += b.Rejected
	s.EvictedTTL += b.EvictedTTL
	s.EvictedCap += b.EvictedCap
	s.Bytes += b.Bytes
}

// Store keeps per-principal baselines and open-window accumulators, split into
// a fixed number of logical shards by a fixed hash (xxhash64) of the principal
// key, each with its own lock on its own cache lines. Callers that need
// determinism route every principal's updates through one goroutine per
// shard group (ShardOf); the store is safe for concurrent use either way.
//
// Memory is bounded by Options.MaxPrincipals, enforced per shard as
// max(1, MaxPrincipals/Shards) so that which principal is evicted depends only
// on the shard's own input (a global count would depend on the interleaving of
// shards and break replays), and by Options.IdleTTL, swept a bounded slice of
// the shard per CloseWindow.
type Store struct {
	opts     Options
	decay    Decay
	shardCap int   // principals per shard
	ttlWin   int64 // a principal idle for more than this many windows is forgotten
	mask     uint64
	shards   []shard
	hook     atomic.Pointer[func(key string)] // SetChangeHook
}

const cacheLine = 64

// MaxKeyLen is the longest principal key or account Add accepts. IAM ARNs
// are at most 2048 bytes; the bound keeps a hostile or broken input from
// pinning unbounded memory and bounds what a snapshot reader allocates.
const MaxKeyLen = 1 << 16

type shard struct {
	shardData
	// Pad to a multiple of two cache lines (adjacent-line prefetch pairs
	// them) so that neighbouring shards' locks and counters never share one.
	_ [(2*cacheLine - unsafe.Sizeof(shardData{})%(2*cacheLine)) % (2 * cacheLine)]byte
}

type shardData struct {
	mu      sync.Mutex
	entries map[uint64]*entry // by xxhash64 of the key (computed anyway for routing); collisions chain through entry.next
	all     []*entry          // every tracked entry; entry.pos is its index. Sampled for eviction, walked by the TTL sweep
	open    []*entry          // entries with at least one open window, in order of first activity
	rng     uint64            // splitmix64 state for eviction sampling; deterministic per shard
	closed  Closed            // CloseWindow's callback argument, kept here so passing it does not allocate
	cursor  int               // TTL sweep position in all
	passLen int               // len(all) when the current sweep pass began
	want    map[*entry]uint32 // non-nil after PutEntry: each entry's recorded place in all, until settle sorts by it

	// Counters: written only under mu by the shard's owner, read with atomic
	// loads by Stats without the lock. Never shared between shards.
	tracked, openN, updates, late, rejected, evTTL, evCap, bytes atomic.Int64
}

// entry is one principal. Its three metrics share the window bookkeeping
// (they are always folded together), so their statistics are stored packed.
type entry struct {
	key      string
	account  string
	next     *entry // next entry whose key has the same hash (almost always nil)
	st       packed
	lastSeen int64         // newest window with activity: the TTL and eviction clock
	win      [2]openWindow // open windows, oldest first, when more == nil
	more     []openWindow  // all open windows, oldest first, when there are more than two
	pos      int32         // index in shard.all
	nwin     uint8         // open windows in win when more == nil
	typ      uint8         // Meta.Type
	isOpen   bool          // on shard.open
}

type openWindow struct {
	w    int64
	vals Values
}

// entryBytes estimates the heap one tracked principal costs besides its key
// and account bytes: the entry (rounded to its allocation size class), its
// map slot (16 bytes in Swiss table groups between 1/2 and 7/8 full) and its
// slot in shard.all. Checked against BenchmarkMemoryPerPrincipal.
const entryBytes = int64(unsafe.Sizeof(entry{})+15)&^15 + 40 + 8

// strBytes is the heap a cloned string of n bytes occupies (small size
// classes are multiples of 16).
func strBytes(n int) int64 { return int64(n+15) &^ 15 }

// New returns an empty store.
func New(opts Options) *Store {
	opts.defaults()
	s := &Store{
		opts:   opts,
		decay:  NewDecay(opts.HalfLife, opts.Window),
		shards: make([]shard, opts.Shards),
		mask:   uint64(opts.Shards - 1),
	}
	s.shardCap = max(1, opts.MaxPrincipals/opts.Shards)
	s.ttlWin = int64(opts.IdleTTL / opts.Window)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.entries = make(map[uint64]*entry)
		sh.rng = uint64(i)
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
	return int(xxhash.Sum64String(key) & s.mask)
}

// lookup returns the shard that owns key and the key's xxhash64, which also
// keys the shard's map (so a key is hashed once per operation).
func (s *Store) lookup(key string) (*shard, uint64) {
	h := xxhash.Sum64String(key)
	return &s.shards[h&s.mask], h
}

// find returns the entry of key, whose hash is h, or nil if it is not tracked.
func (sh *shard) find(h uint64, key string) *entry {
	e := sh.entries[h]
	for e != nil && e.key != key {
		e = e.next
	}
	return e
}

// Add adds delta to key's accumulator for window w and returns the running
// values and baseline for that window. Meta is recorded when the principal is
// first tracked. Non-finite components of delta are ignored.
//
// Adding to a window at or before the newest one already folded in is allowed
// (Observation.Late); see Stats.Observe for what it means.
func (s *Store) Add(key string, meta Meta, w int64, delta Values) Observation {
	for m, v := range delta {
		if math.IsInf(v, 0) || v != v {
			delta[m] = 0
		}
	}
	sh, h := s.lookup(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.settle(sh)
	e := sh.find(h, key)
	ok := e != nil
	if !ok {
		if len(key) > MaxKeyLen || len(meta.Account) > MaxKeyLen {
			sh.rejected.Add(1)
			return Observation{Window: w, Meta: meta, Rejected: true}
		}
		if e = s.admit(sh, h, key, meta, w); e == nil {
			sh.rejected.Add(1)
			return Observation{Window: w, Meta: meta, Rejected: true}
		}
	}
	ow := e.window(w)
	for m := range delta {
		ow.vals[m] += delta[m]
	}
	if w > e.lastSeen {
		e.lastSeen = w
	}
	if !e.isOpen {
		s.pushOpen(sh, e)
	}
	obs := Observation{
		Window:   w,
		Running:  ow.vals,
		Baseline: e.st.at(s.decay, w),
		Meta:     Meta{Type: e.typ, Account: e.account},
		New:      !ok,
		Late:     e.st.windows > 0 && w <= e.st.last,
	}
	sh.updates.Add(1)
	if obs.Late {
		sh.late.Add(1)
	}
	return obs
}

// admit tracks a new principal in sh, evicting one first if the shard is at
// its cap. It returns nil if the shard is full of open principals.
func (s *Store) admit(sh *shard, h uint64, key string, meta Meta, w int64) *entry {
	for len(sh.all) >= s.shardCap {
		if !s.evictOne(sh) {
			return nil
		}
	}
	// Clone: the caller's strings may point into a large decode buffer.
	e := &entry{key: strings.Clone(key), account: strings.Clone(meta.Account), typ: meta.Type, lastSeen: w}
	sh.insert(h, e)
	return e
}

func (sh *shard) insert(h uint64, e *entry) {
	e.pos = int32(len(sh.all))
	sh.all = append(sh.all, e)
	e.next = sh.entries[h]
	sh.entries[h] = e
	sh.tracked.Add(1)
	sh.bytes.Add(entryBytes + strBytes(len(e.key)) + strBytes(len(e.account)))
}

// remove forgets e, which must not be open. The last entry of all takes its
// place, so the order of all stays a deterministic function of the input;
// that entry is returned (nil if e was the last).
func (sh *shard) remove(e *entry) (moved *entry) {
	h := xxhash.Sum64String(e.key)
	if head := sh.entries[h]; head == e {
		if e.next == nil {
			delete(sh.entries, h)
		} else {
			sh.entries[h] = e.next
		}
	} else {
		for head.next != e {
			head = head.next
		}
		head.next = e.next
	}
	e.next = nil
	last := sh.all[len(sh.all)-1]
	sh.all[e.pos] = last
	last.pos = e.pos
	sh.all[len(sh.all)-1] = nil
	sh.all = sh.all[:len(sh.all)-1]
	sh.tracked.Add(-1)
	sh.bytes.Add(-(entryBytes + strBytes(len(e.key)) + strBytes(len(e.account))))
	if last != e {
		return last
	}
	return nil
}

// window returns e's accumulator for window w, opening it if needed.
func (e *entry) window(w int64) *openWindow {
	wins := e.windows()
	i := len(wins)
	for i > 0 && wins[i-1].w >= w {
		if wins[i-1].w == w {
			return &wins[i-1]
		}
		i--
	}
	// Insert at i, keeping windows sorted.
	switch {
	case e.more == nil && e.nwin < uint8(len(e.win)):
		copy(e.win[i+1:e.nwin+1], e.win[i:e.nwin])
		e.win[i] = openWindow{w: w}
		e.nwin++
		return &e.win[i]
	case e.more == nil:
		e.more = make([]openWindow, 0, 4)
		e.more = append(e.more, e.win[:e.nwin]...)
		e.nwin = 0
		e.win = [2]openWindow{}
	}
	e.more = append(e.more, openWindow{})
	copy(e.more[i+1:], e.more[i:])
	e.more[i] = openWindow{w: w}
	return &e.more[i]
}

// windows returns e's open windows, oldest first.
func (e *entry) windows() []openWindow {
	if e.more != nil {
		return e.more
	}
	return e.win[:e.nwin]
}

// dropWindows removes e's n oldest open windows.
func (e *entry) dropWindows(n int) {
	if n == 0 {
		return
	}
	if e.more == nil {
		copy(e.win[:], e.win[n:e.nwin])
		e.nwin -= uint8(n)
		for i := e.nwin; i < uint8(len(e.win)); i++ {
			e.win[i] = openWindow{}
		}
		return
	}
	rest := e.more[n:]
	if len(rest) <= len(e.win) {
		e.more = nil
		e.nwin = uint8(copy(e.win[:], rest))
		return
	}
	e.more = append(e.more[:0], rest...)
}

// CloseWindow folds every open window <= w of the principals in shard into
// their baselines, in window order, calling fn (if not nil) for each
// principal-window before it is folded. Principals are visited in the order
// they first became active, so the sequence is deterministic for a
// deterministic input. fn runs under the shard's lock: it must not call back
// into the store for this shard, and the *Closed is reused after it returns.
//
// CloseWindow also forgets, incrementally, principals of the shard whose
// newest activity is more than IdleTTL before window w.
func (s *Store) CloseWindow(shardIdx int, w int64, fn func(*Closed)) {
	sh := &s.shards[shardIdx]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.settle(sh)
	keep := sh.open[:0]
	c := &sh.closed // reused under the shard lock: &c of a local would escape and allocate per call
	for _, e := range sh.open {
		wins := e.windows()
		n := 0
		for ; n < len(wins) && wins[n].w <= w; n++ {
			ow := &wins[n]
			if fn != nil {
				*c = Closed{
					Key:    e.key,
					Meta:   Meta{Type: e.typ, Account: e.account},
					Window: ow.w,
					Values: ow.vals,
					Before: e.st.at(s.decay, ow.w),
					Late:   e.st.windows > 0 && ow.w <= e.st.last,
				}
				fn(c)
			}
			e.st.observe(s.decay, ow.w, ow.vals)
		}
		e.dropWindows(n)
		if e.nwin > 0 || e.more != nil {
			keep = append(keep, e)
		} else {
			e.isOpen = false
			e.st.openSeq = 0
		}
	}
	clear(sh.open[len(keep):])
	sh.openN.Add(int64(len(keep) - len(sh.open)))
	sh.open = keep
	s.sweep(sh, w)
}

// Get returns key's baseline as window w opens, and whether key is tracked.
func (s *Store) Get(key string, w int64) ([NumMetrics]Stats, Meta, bool) {
	sh, h := s.lookup(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.settle(sh)
	e := sh.find(h, key)
	if e == nil {
		return [NumMetrics]Stats{}, Meta{}, false
	}
	return e.st.at(s.decay, w), Meta{Type: e.typ, Account: e.account}, true
}

// Len returns the number of tracked principals.
func (s *Store) Len() int { return int(s.Stats().Tracked) }

// Stats returns the store's counters, summed over shards without locking.
func (s *Store) Stats() StoreStats {
	var t StoreStats
	for i := range s.shards {
		sh := &s.shards[i]
		t.Tracked += sh.tracked.Load()
		t.Open += sh.openN.Load()
		t.Updates += sh.updates.Load()
		t.Late += sh.late.Load()
		t.Rejected += sh.rejected.Load()
		t.EvictedTTL += sh.evTTL.Load()
		t.EvictedCap += sh.evCap.Load()
		t.Bytes += sh.bytes.Load()
	}
	t.Bytes += int64(len(s.shards)) * int64(unsafe.Sizeof(shard{}))
	return t
}

// packed holds the three metrics' Stats of one principal without repeating
// the fields they share (they are folded at the same windows, so Weight,
// Windows and Last are always equal): 96 bytes instead of 3×48.
type packed struct {
	weight  float64
	last    int64
	windows uint32
	// openSeq is no statistic: it is the entry's place in its shard's open
	// list (increasing along the list, 0 when not open), which a restore from
	// a changelog needs (see entry.go). It lives here because it fills what
	// would otherwise be padding, so it costs no memory.
	openSeq uint32
	mean    [NumMetrics]float64
	m2      [NumMetrics]float64
	newest  [NumMetrics]float64
}

func (p *packed) get(m int) Stats {
	return Stats{Weight: p.weight, Mean: p.mean[m], M2: p.m2[m], Windows: p.windows, Last: p.last, Newest: p.newest[m]}
}

func (p *packed) set(st *[NumMetrics]Stats) {
	p.weight, p.windows, p.last = st[0].Weight, st[0].Windows, st[0].Last
	for m := range st {
		p.mean[m], p.m2[m], p.newest[m] = st[m].Mean, st[m].M2, st[m].Newest
	}
}

// at is Stats.At for each metric, bit-identical to it, with the closed-form
// weights computed once.
func (p *packed) at(d Decay, w int64) [NumMetrics]Stats {
	var st [NumMetrics]Stats
	for m := range st {
		st[m] = p.get(m)
	}
	if p.windows == 0 {
		return st
	}
	if gap := w - 1 - p.last; gap > 0 {
		b, z := d.zeroWeights(gap)
		for m := range st {
			st[m].applyZeros(b, z, gap)
		}
	}
	return st
}

// observe is Stats.Observe for each metric, bit-identical to it.
func (p *packed) observe(d Decay, w int64, v Values) {
	var st [NumMetrics]Stats
	switch {
	case p.windows == 0:
		for m := range st {
			st[m].Observe(d, w, v[m])
		}
	case w <= p.last:
		for m := range st {
			st[m] = p.get(m)
			st[m].addToNewest(v[m])
		}
	default:
		st = p.at(d, w)
		beta := d.beta()
		for m := range st {
			st[m].step(beta, w, v[m])
		}
	}
	p.set(&st)
}
