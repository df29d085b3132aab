package baseline

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// Per-principal state, for changelogs.
//
// A whole-store snapshot (WriteSnapshot) suits one process that checkpoints
// now and then. A stage scaled out like Kafka Streams instead writes each
// principal's state, whenever it changes, to a compacted changelog keyed by
// principal, and a new owner rebuilds the store from that log record by
// record. AppendEntry and PutEntry are that record; AppendShardState and
// PutShardState carry what belongs to no principal (each shard's eviction
// RNG and TTL sweep position); SetChangeHook reports the principals that
// change without an Add: evicted ones, and ones moved in their shard's
// eviction order by another's eviction.
//
// A restored store must evict the same principals, and visit them at a close
// in the same order (peer statistics are float sums, so order shows in their
// bits), as the original would have. So an entry records its index in the
// shard's list of principals and, while it has open windows, its place in the
// open list (a sequence number that increases along the list); entries put in
// any order are sorted back into place before the shard is next used.

// entryVersion is the format version written by AppendEntry and AppendShardState.
const entryVersion = 1

// Entry format, version 1. Varints are encoding/binary's (signed ones
// zigzag); f64 is IEEE-754 bits, 8 bytes little-endian; fvar is IEEE-754 bits
// with the bytes reversed, as a uvarint, so that small integers (counts,
// byte sums: most window values) take one to four bytes.
//
//	version   byte = 1
//	type      byte     Meta.Type
//	account   uvarint length (<= MaxKeyLen), bytes
//	lastSeen  varint
//	pos       uvarint  index in the shard's list of principals
//	windows   uvarint  Stats.Windows; when > 0: varint last, f64 weight, f64 mean[3], f64 m2[3], fvar newest[3]
//	open      uvarint  open windows; when > 0: uvarint open-list sequence number (>= 1),
//	          then per window, oldest first: window (varint for the first, uvarint gap-1 after), fvar values[3]
//
// Shard state, version 1:
//
//	version   byte = 1
//	options   uvarint shards, varint window ns, varint half-life ns
//	n         uvarint shards listed: those not in their initial state
//	shard*    uvarint index (the first absolute, then gap-1), uvarint RNG draws, uvarint sweep cursor, uvarint sweep pass length

// SetChangeHook sets fn to be called with the key of every principal whose
// state (AppendEntry) changes other than through Add or a CloseWindow fold:
// principals evicted by IdleTTL or MaxPrincipals, principals moved in their
// shard's eviction order by another's eviction, and principals whose place
// PutEntry could not honour. Together with Add's keys and CloseWindow's
// callback it tells a changelog writer every principal to write. fn runs on
// the goroutine that made the change, under the shard's lock: it must not call
// back into the store, and it must be quick. nil removes the hook.
func (s *Store) SetChangeHook(fn func(key string)) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

func (s *Store) notify(key string) {
	if h := s.hook.Load(); h != nil {
		(*h)(key)
	}
}

// forget removes e, which must not be open, and reports it and the entry that
// took its place in the shard's list to the change hook.
func (s *Store) forget(sh *shard, e *entry) {
	moved := sh.remove(e)
	s.notify(e.key)
	if moved != nil {
		s.notify(moved.key)
	}
}

// pushOpen appends e to the shard's open list with the next sequence number.
func (s *Store) pushOpen(sh *shard, e *entry) {
	seq := uint32(1)
	if n := len(sh.open); n > 0 {
		last := sh.open[n-1].st.openSeq
		if last == math.MaxUint32 {
			// Once in billions of openings without the list ever emptying:
			// renumber, and have the new numbers written.
			for i, o := range sh.open {
				o.st.openSeq = uint32(i + 1)
				s.notify(o.key)
			}
			last = uint32(n)
		}
		seq = last + 1
	}
	e.st.openSeq = seq
	e.isOpen = true
	sh.open = append(sh.open, e)
	sh.openN.Add(1)
}

// AppendEntry appends the state of key's principal to dst in the entry
// format, and reports whether the store tracks key (if not, dst is returned
// unchanged). The same state always gives the same bytes.
func (s *Store) AppendEntry(dst []byte, key string) ([]byte, bool) {
	sh, h := s.lookup(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.settle(sh)
	e := sh.find(h, key)
	if e == nil {
		return dst, false
	}
	return appendEntry(dst, e), true
}

func appendEntry(b []byte, e *entry) []byte {
	b = append(b, entryVersion, e.typ)
	b = binary.AppendUvarint(b, uint64(len(e.account)))
	b = append(b, e.account...)
	b = binary.AppendVarint(b, e.lastSeen)
	b = binary.AppendUvarint(b, uint64(e.pos))
	p := &e.st
	b = binary.AppendUvarint(b, uint64(p.windows))
	if p.windows > 0 {
		b = binary.AppendVarint(b, p.last)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.weight))
		for _, arr := range [...]*[NumMetrics]float64{&p.mean, &p.m2} {
			for _, v := range arr {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
			}
		}
		for _, v := range p.newest {
			b = appendFvar(b, v)
		}
	}
	wins := e.windows()
	b = binary.AppendUvarint(b, uint64(len(wins)))
	if len(wins) == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(p.openSeq))
	for i, ow := range wins {
		if i == 0 {
			b = binary.AppendVarint(b, ow.w)
		} else {
			b = binary.AppendUvarint(b, uint64(ow.w)-uint64(wins[i-1].w)-1)
		}
		for _, v := range ow.vals {
			b = appendFvar(b, v)
		}
	}
	return b
}

func appendFvar(b []byte, v float64) []byte {
	return binary.AppendUvarint(b, bits.ReverseBytes64(math.Float64bits(v)))
}

// PutEntry sets key's principal to the state data holds (as written by
// AppendEntry), replacing whatever the store had for key; nil data forgets
// key. It is meant for rebuilding a store from a changelog: entries may be
// put in any order and any number of times, and each shard's eviction and
// close order is settled from the entries' recorded places before the shard
// is next used (a place that is taken or out of range is reported to the
// change hook then). The shard's cap is enforced at the next admission, as
// after a restore with a smaller cap.
//
// Errors wrap ErrSnapshotCorrupt (or ErrSnapshotVersion for another format
// version), and leave the store unchanged. No input makes PutEntry panic or
// allocate much more than its size.
func (s *Store) PutEntry(key string, data []byte) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes over limit", ErrSnapshotCorrupt, len(key))
	}
	var e *entry
	var pos uint32
	if data != nil {
		var err error
		if e, pos, err = decodeEntryState(key, data); err != nil {
			return fmt.Errorf("put baseline entry %q: %w", key, err)
		}
	}
	sh, h := s.lookup(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.want == nil {
		sh.want = make(map[*entry]uint32, len(sh.all)+1)
		for i, o := range sh.all {
			sh.want[o] = uint32(i)
		}
	}
	if old := sh.find(h, key); old != nil {
		sh.remove(old)
		delete(sh.want, old)
	}
	if e != nil {
		sh.insert(h, e)
		sh.want[e] = pos
	}
	return nil
}

// Settle puts every shard that PutEntry changed in order now, on the calling
// goroutine (which is where the change hook then runs), rather than at each
// shard's next use.
func (s *Store) Settle() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.settle(sh)
		sh.mu.Unlock()
	}
}

// settle puts a shard that PutEntry changed back in order: its list of
// principals by their recorded places, its open list by sequence number.
// Called under the lock by every operation that depends on either order;
// small enough to inline, so that the usual case costs a nil check.
func (s *Store) settle(sh *shard) {
	if sh.want != nil {
		s.resettle(sh)
	}
}

func (s *Store) resettle(sh *shard) {
	want := sh.want
	sh.want = nil
	slices.SortFunc(sh.all, func(a, b *entry) int {
		if c := cmp.Compare(want[a], want[b]); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for i, e := range sh.all {
		e.pos = int32(i)
		if want[e] != uint32(i) {
			s.notify(e.key)
		}
	}
	for _, e := range sh.open {
		e.isOpen = false
	}
	clear(sh.open)
	sh.open = sh.open[:0]
	for _, e := range sh.all {
		if e.nwin > 0 || e.more != nil {
			e.isOpen = true
			sh.open = append(sh.open, e)
		}
	}
	slices.SortFunc(sh.open, func(a, b *entry) int {
		if c := cmp.Compare(a.st.openSeq, b.st.openSeq); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	sh.openN.Store(int64(len(sh.open)))
}

// AppendKeys appends the key of every tracked principal to dst, shard by
// shard in each shard's eviction order.
func (s *Store) AppendKeys(dst []string) []string {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.settle(sh)
		for _, e := range sh.all {
			dst = append(dst, e.key)
		}
		sh.mu.Unlock()
	}
	return dst
}

// entryReader decodes the entry and shard state formats, keeping the first
// error; reads after an error return zero values.
type entryReader struct {
	b   []byte
	off int
	err error
}

func (r *entryReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s (offset %d)", ErrSnapshotCorrupt, fmt.Sprintf(format, args...), r.off)
	}
}

func (r *entryReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("truncated")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *entryReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	r.off += n
	return v
}

func (r *entryReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	r.off += n
	return v
}

// bounded reads a uvarint that must not exceed limit.
func (r *entryReader) bounded(limit uint64, what string) uint64 {
	v := r.uvarint()
	if v > limit {
		r.fail("%s %d over limit %d", what, v, limit)
		return 0
	}
	return v
}

func (r *entryReader) f64() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 8 {
		r.fail("truncated")
		return 0
	}
	r.off += 8
	return math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off-8:]))
}

func (r *entryReader) fvar() float64 {
	return math.Float64frombits(bits.ReverseBytes64(r.uvarint()))
}

func (r *entryReader) version() {
	if v := r.byte(); r.err == nil && v != entryVersion {
		r.err = fmt.Errorf("%w: version %d, this build reads version %d", ErrSnapshotVersion, v, entryVersion)
	}
}

func (r *entryReader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

// decodeEntryState decodes an entry of key and its recorded place.
func decodeEntryState(key string, data []byte) (*entry, uint32, error) {
	r := &entryReader{b: data}
	r.version()
	e := &entry{key: strings.Clone(key), typ: r.byte()}
	n := r.bounded(MaxKeyLen, "account length")
	if r.err == nil && uint64(len(r.b)-r.off) < n {
		r.fail("truncated account")
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	e.account = string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	e.lastSeen = r.varint()
	pos := uint32(r.bounded(math.MaxInt32, "position"))
	p := &e.st
	p.windows = uint32(r.bounded(math.MaxUint32, "windows"))
	if p.windows > 0 {
		p.last = r.varint()
		p.weight = r.f64()
		for _, arr := range [...]*[NumMetrics]float64{&p.mean, &p.m2} {
			for m := range arr {
				arr[m] = r.f64()
			}
		}
		for m := range p.newest {
			p.newest[m] = r.fvar()
		}
	}
	// A window takes at least 1+NumMetrics bytes: the bound keeps a forged
	// count from allocating more than the input justifies.
	nwin := r.bounded(uint64(len(r.b)-r.off)/(1+uint64(NumMetrics)), "open windows")
	if nwin > 0 {
		p.openSeq = uint32(r.bounded(math.MaxUint32, "open sequence"))
		if r.err == nil && p.openSeq == 0 {
			r.fail("open sequence number 0")
		}
	}
	var prev int64
	for k := uint64(0); k < nwin && r.err == nil; k++ {
		var w int64
		if k == 0 {
			w = r.varint()
		} else {
			w = int64(uint64(prev) + r.uvarint() + 1)
			if r.err == nil && w <= prev {
				r.fail("open window after %d out of range", prev)
			}
		}
		ow := e.window(w)
		for m := range ow.vals {
			ow.vals[m] = r.fvar()
		}
		prev = w
	}
	if err := r.end(); err != nil {
		return nil, 0, err
	}
	return e, pos, nil
}

// splitmix64's increment, and its inverse modulo 2^64, so that a shard's RNG
// state is written as the number of draws since New (small) rather than as 8
// random bytes.
const (
	rngGamma    = 0x9e3779b97f4a7c15
	rngGammaInv = 0xf1de83e19937733d
)

// AppendShardState appends the store's state that belongs to no principal to
// dst: for each shard, its eviction RNG and its TTL sweep position, with the
// options that give them meaning. Together with every principal's
// AppendEntry it is the whole store.
func (s *Store) AppendShardState(dst []byte) []byte {
	dst = append(dst, entryVersion)
	dst = binary.AppendUvarint(dst, uint64(len(s.shards)))
	dst = binary.AppendVarint(dst, int64(s.opts.Window))
	dst = binary.AppendVarint(dst, int64(s.opts.HalfLife))
	type row struct {
		idx                  int
		draws, cursor, passN uint64
	}
	var rows []row
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.settle(sh)
		cursor, passLen := sh.cursor, sh.passLen
		if cursor >= len(sh.all) {
			cursor, passLen = 0, 0 // the sweep starts a new pass either way
		}
		draws := (sh.rng - uint64(i)) * rngGammaInv
		sh.mu.Unlock()
		if draws != 0 || cursor != 0 || passLen != 0 {
			rows = append(rows, row{i, draws, uint64(cursor), uint64(passLen)})
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(rows)))
	prev := -1
	for _, r := range rows {
		dst = binary.AppendUvarint(dst, uint64(r.idx-prev-1))
		dst = binary.AppendUvarint(dst, r.draws)
		dst = binary.AppendUvarint(dst, r.cursor)
		dst = binary.AppendUvarint(dst, r.passN)
		prev = r.idx
	}
	return dst
}

// PutShardState sets the state AppendShardState wrote, replacing the
// store's. The store's Shards, Window and HalfLife must be those of the
// writer, or the error wraps ErrSnapshotIncompatible; other errors wrap
// ErrSnapshotCorrupt or ErrSnapshotVersion. On error the store is unchanged.
func (s *Store) PutShardState(data []byte) error {
	r := &entryReader{b: data}
	r.version()
	shards := r.uvarint()
	window := time.Duration(r.varint())
	halfLife := time.Duration(r.varint())
	if r.err != nil {
		return fmt.Errorf("put baseline shard state: %w", r.err)
	}
	o := s.opts
	switch {
	case shards != uint64(o.Shards):
		return fmt.Errorf("put baseline shard state: %w: written with %d shards, options %d", ErrSnapshotIncompatible, shards, o.Shards)
	case window != o.Window:
		return fmt.Errorf("put baseline shard state: %w: written with window %v, options %v", ErrSnapshotIncompatible, window, o.Window)
	case halfLife != o.HalfLife:
		return fmt.Errorf("put baseline shard state: %w: written with half-life %v, options %v", ErrSnapshotIncompatible, halfLife, o.HalfLife)
	}
	type row struct {
		idx             int
		rng             uint64
		cursor, passLen int
	}
	n := r.bounded(uint64(len(s.shards)), "shard count")
	rows := make([]row, 0, n)
	idx := -1
	for range n {
		gap := r.bounded(uint64(len(s.shards)), "shard index")
		if r.err == nil && uint64(idx)+gap+1 >= uint64(len(s.shards)) {
			r.fail("shard index past %d shards", len(s.shards))
		}
		idx += int(gap) + 1
		draws := r.uvarint()
		cursor := r.bounded(math.MaxInt32, "sweep cursor")
		passLen := r.bounded(math.MaxInt32, "sweep pass length")
		rows = append(rows, row{idx, uint64(idx) + draws*rngGamma, int(cursor), int(passLen)})
	}
	if err := r.end(); err != nil {
		return fmt.Errorf("put baseline shard state: %w", err)
	}
	j := 0
	for i := range s.shards {
		sh := &s.shards[i]
		rng, cursor, passLen := uint64(i), 0, 0
		if j < len(rows) && rows[j].idx == i {
			rng, cursor, passLen = rows[j].rng, rows[j].cursor, rows[j].passLen
			j++
		}
		sh.mu.Lock()
		sh.rng, sh.cursor, sh.passLen = rng, cursor, passLen
		sh.mu.Unlock()
	}
	return nil
}
