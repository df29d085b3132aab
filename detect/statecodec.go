package detect

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
)

// State format, version 1: the values Changes and Export write and
// RestoreState reads. Varints are encoding/binary's (signed ones zigzag); f64
// is IEEE-754 bits, 8 bytes little-endian; fvar is IEEE-754 bits with the
// bytes reversed, as a uvarint, so that the integers most counts are take one
// to four bytes; a time is varint Unix seconds and uvarint nanoseconds.
//
// A string is a uvarint x: x even is a literal of x/2 bytes that follow, x odd
// repeats the value's (x-1)/2-th literal. An action appears in several
// sketches and an event id in several metrics' evidence; each is written once.
//
// Principal:
//
//	version    byte = 1
//	flags      byte: bit 7 the detector keeps state (open windows or a cooldown);
//	           bit m (m < 3) metric m has a running cooldown
//	cooldowns  time per bit m set: detected_at of the alert that started it
//	windows    uvarint n, then n windows in order of first activity:
//	             varint window, byte alerted bits,
//	             3 sketches (calls, errors, egress): uvarint n, n × (key, fvar count),
//	             3 evidence lists: uvarint n, n × string
//	store      the rest: the baseline store's entry (baseline.Store.AppendEntry),
//	           empty if the store does not track the principal
//
// A sketch key is a byte of flags (1 action, 2 error code, 4 address, 8
// port) and the fields flagged: strings, an address (byte 4 and 4 bytes, 16
// and 16 bytes, or 17, 16 bytes and the zone string) and a uvarint port.
//
// Engine (key ""):
//
//	version    byte = 1
//	flags      byte: 1 an event was seen, 2 a window closed, 4 a window was routed
//	time       newest event time, if flag 1
//	closed     varint newest closed window, if flag 2
//	routed     varint newest routed window, if flag 4
//	peers      uvarint n, n peer groups sorted by (account, type):
//	             string account, byte type, f64 weight, f64 mean[3], f64 m2[3],
//	             varint windows, varint samples, varint last
//	store      the rest: baseline.Store.AppendShardState
const stateVersion = 1

const (
	flagDetector = 1 << 7
	flagCooldown = 1<<baseline.NumMetrics - 1

	flagHaveMax = 1
	flagClosed  = 2
	flagHaveWin = 4

	keyA    = 1
	keyB    = 2
	keyAddr = 4
	keyPort = 8

	addr4     = 4
	addr6     = 16
	addr6Zone = 17

	// Fewest bytes a window and a peer group take, to bound counts by the
	// input's length before allocating.
	minWindowBytes = 1 + 1 + 3 + 3
	minPeerBytes   = 1 + 1 + 7*8 + 3
	// Largest counts the encoder writes: Config.TopK and Config.Evidence
	// are validated to at most these.
	maxSketch   = 64
	maxEvidence = 32
)

// stateEncoder appends state values, reusing its buffers across values.
type stateEncoder struct {
	b   []byte
	buf []byte            // kept between values by writeKeys
	tab map[string]uint64 // literals written so far in the current value
}

func (w *stateEncoder) begin(dst []byte) {
	w.b = dst
	if w.tab == nil {
		w.tab = make(map[string]uint64)
	}
	clear(w.tab)
}

func (w *stateEncoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *stateEncoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }

func (w *stateEncoder) f64(v float64) {
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v))
}

func (w *stateEncoder) fvar(v float64) { w.uvarint(bits.ReverseBytes64(math.Float64bits(v))) }

func (w *stateEncoder) time(t time.Time) {
	w.varint(t.Unix())
	w.uvarint(uint64(t.Nanosecond()))
}

func (w *stateEncoder) str(s string) {
	if i, ok := w.tab[s]; ok {
		w.uvarint(i<<1 | 1)
		return
	}
	w.tab[s] = uint64(len(w.tab))
	w.uvarint(uint64(len(s)) << 1)
	w.b = append(w.b, s...)
}

func (w *stateEncoder) topKey(k topKey) {
	var f byte
	if k.a != "" {
		f |= keyA
	}
	if k.b != "" {
		f |= keyB
	}
	if k.addr.IsValid() {
		f |= keyAddr
	}
	if k.port != 0 {
		f |= keyPort
	}
	w.b = append(w.b, f)
	if k.a != "" {
		w.str(k.a)
	}
	if k.b != "" {
		w.str(k.b)
	}
	if k.addr.IsValid() {
		switch {
		case k.addr.Is4():
			a := k.addr.As4()
			w.b = append(append(w.b, addr4), a[:]...)
		case k.addr.Zone() != "":
			a := k.addr.As16()
			w.b = append(append(w.b, addr6Zone), a[:]...)
			w.str(k.addr.Zone())
		default:
			a := k.addr.As16()
			w.b = append(append(w.b, addr6), a[:]...)
		}
	}
	if k.port != 0 {
		w.uvarint(uint64(k.port))
	}
}

func (w *stateEncoder) window(ws *winState) {
	w.varint(ws.w)
	var alerted byte
	for m, a := range ws.alerted {
		if a {
			alerted |= 1 << m
		}
	}
	w.b = append(w.b, alerted)
	for _, sk := range [...]*sketch{&ws.calls, &ws.errors, &ws.egress} {
		w.uvarint(uint64(len(sk.c)))
		for _, c := range sk.c {
			w.topKey(c.key)
			w.fvar(c.count)
		}
	}
	for _, ev := range ws.evidence {
		w.uvarint(uint64(len(ev)))
		for _, s := range ev {
			w.str(s)
		}
	}
}

// appendPrincipal appends key's state to dst and reports whether the engine
// keeps anything about key (if not, dst is returned unchanged).
func (e *Engine) appendPrincipal(dst []byte, key string) ([]byte, bool) {
	ps := e.workers[e.workerOf(e.store.ShardOf(key))].states[key]
	w := &e.enc
	w.begin(dst)
	w.b = append(w.b, stateVersion)
	if ps == nil {
		w.b = append(w.b, 0)
	} else {
		flags := byte(flagDetector)
		for m, t := range ps.firstSent {
			if !t.IsZero() {
				flags |= 1 << m
			}
		}
		w.b = append(w.b, flags)
		for _, t := range ps.firstSent {
			if !t.IsZero() {
				w.time(t)
			}
		}
		w.uvarint(uint64(len(ps.wins)))
		for _, r := range ps.wins {
			w.window(r.ws)
		}
	}
	b, ok := e.store.AppendEntry(w.b, key)
	w.b = nil
	if !ok && ps == nil {
		return dst, false
	}
	return b, true
}

// appendEngineState appends the engine's own state (key "") to dst.
func (e *Engine) appendEngineState(dst []byte) []byte {
	w := &e.enc
	w.begin(dst)
	var flags byte
	if e.haveMax {
		flags |= flagHaveMax
	}
	if e.closed != math.MinInt64 {
		flags |= flagClosed
	}
	if e.haveWin {
		flags |= flagHaveWin
	}
	w.b = append(w.b, stateVersion, flags)
	if e.haveMax {
		w.time(e.maxTime)
	}
	if e.closed != math.MinInt64 {
		w.varint(e.closed)
	}
	if e.haveWin {
		w.varint(e.maxWin)
	}
	groups := make([]groupKey, 0, len(e.peers))
	for g := range e.peers {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, compareGroups)
	w.uvarint(uint64(len(groups)))
	for _, g := range groups {
		p := e.peers[g]
		w.str(g.account)
		w.b = append(w.b, g.typ)
		w.f64(p.weight)
		for _, v := range p.mean {
			w.f64(v)
		}
		for _, v := range p.m2 {
			w.f64(v)
		}
		w.varint(int64(p.windows))
		w.varint(p.samples)
		w.varint(p.last)
	}
	b := e.store.AppendShardState(w.b)
	w.b = nil
	return b
}

func compareGroups(x, y groupKey) int {
	if c := cmp.Compare(x.account, y.account); c != 0 {
		return c
	}
	return cmp.Compare(x.typ, y.typ)
}

// stateReader decodes state values, keeping the first error; reads after an
// error return zero values.
type stateReader struct {
	b   []byte
	off int
	err error
	tab []string
}

func (r *stateReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s (offset %d)", ErrStateCorrupt, fmt.Sprintf(format, args...), r.off)
	}
}

func (r *stateReader) version() {
	if v := r.byte(); r.err == nil && v != stateVersion {
		r.err = fmt.Errorf("%w: version %d, this build reads version %d", ErrStateVersion, v, stateVersion)
	}
}

func (r *stateReader) byte() byte {
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

func (r *stateReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail("truncated")
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

func (r *stateReader) uvarint() uint64 {
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

func (r *stateReader) varint() int64 {
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

// count reads a uvarint count of items of at least minBytes each, at most limit.
func (r *stateReader) count(limit, minBytes int, what string) int {
	v := r.uvarint()
	if r.err == nil && (v > uint64(limit) || v > uint64(len(r.b)-r.off)/uint64(minBytes)) {
		r.fail("%d %s: over limit or past the end", v, what)
		return 0
	}
	return int(v)
}

func (r *stateReader) f64() float64 {
	if b := r.bytes(8); b != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

func (r *stateReader) fvar() float64 { return math.Float64frombits(bits.ReverseBytes64(r.uvarint())) }

func (r *stateReader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err == nil && nsec >= 1e9 {
		r.fail("nanoseconds %d out of range", nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *stateReader) str() string {
	x := r.uvarint()
	if r.err != nil {
		return ""
	}
	if x&1 == 1 {
		if i := x >> 1; i < uint64(len(r.tab)) {
			return r.tab[i]
		}
		r.fail("string reference %d of %d", x>>1, len(r.tab))
		return ""
	}
	if x>>1 > uint64(len(r.b)-r.off) {
		r.fail("truncated string")
		return ""
	}
	s := string(r.bytes(int(x >> 1)))
	r.tab = append(r.tab, s)
	return s
}

func (r *stateReader) topKey() topKey {
	var k topKey
	f := r.byte()
	if f&^(keyA|keyB|keyAddr|keyPort) != 0 {
		r.fail("sketch key flags %#x", f)
	}
	if f&keyA != 0 {
		if k.a = r.str(); k.a == "" {
			r.fail("empty action flagged")
		}
	}
	if f&keyB != 0 {
		if k.b = r.str(); k.b == "" {
			r.fail("empty error code flagged")
		}
	}
	if f&keyAddr != 0 {
		switch tag := r.byte(); tag {
		case addr4:
			if b := r.bytes(4); b != nil {
				k.addr = netip.AddrFrom4([4]byte(b))
			}
		case addr6, addr6Zone:
			if b := r.bytes(16); b != nil {
				k.addr = netip.AddrFrom16([16]byte(b))
			}
			if tag == addr6Zone {
				zone := r.str()
				if zone == "" {
					r.fail("empty zone")
				}
				k.addr = k.addr.WithZone(zone)
			}
		default:
			r.fail("address tag %d", tag)
		}
	}
	if f&keyPort != 0 {
		p := r.uvarint()
		if r.err == nil && (p == 0 || p > math.MaxUint16) {
			r.fail("port %d", p)
		}
		k.port = uint16(p)
	}
	return k
}

// decodePrincipal decodes a principal's value into a new detector state (nil
// if it has none) and the store's entry.
func (e *Engine) decodePrincipal(data []byte) (*pstate, []byte, error) {
	r := &stateReader{b: data}
	r.version()
	flags := r.byte()
	switch {
	case r.err != nil:
		return nil, nil, r.err
	case flags&^(flagDetector|flagCooldown) != 0:
		r.fail("flags %#x", flags)
		return nil, nil, r.err
	case flags&flagDetector == 0:
		if flags != 0 {
			r.fail("cooldown without detector state")
			return nil, nil, r.err
		}
		return nil, data[r.off:], nil
	}
	ps := &pstate{}
	for m := range ps.firstSent {
		if flags&(1<<m) != 0 {
			ps.firstSent[m] = r.time()
		}
	}
	n := r.count(math.MaxInt32, minWindowBytes, "windows")
	if n > 0 {
		ps.wins = make([]winRef, 0, n)
	}
	for range n {
		ws := e.decodeWindow(r)
		if r.err != nil {
			break
		}
		ps.wins = append(ps.wins, winRef{w: ws.w, ws: ws})
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	wins := make([]int64, len(ps.wins))
	for i, ref := range ps.wins {
		wins[i] = ref.w
	}
	slices.Sort(wins)
	for i := 1; i < len(wins); i++ {
		if wins[i] == wins[i-1] {
			r.fail("window %d twice", wins[i])
			return nil, nil, r.err
		}
	}
	return ps, data[r.off:], nil
}

func (e *Engine) decodeWindow(r *stateReader) *winState {
	ws := &winState{w: r.varint()}
	alerted := r.byte()
	if alerted&^flagCooldown != 0 {
		r.fail("alerted bits %#x", alerted)
	}
	for m := range ws.alerted {
		ws.alerted[m] = alerted&(1<<m) != 0
	}
	for _, sk := range [...]*sketch{&ws.calls, &ws.errors, &ws.egress} {
		n := r.count(maxSketch, 2, "sketch counters")
		for range n {
			k := r.topKey()
			sk.c = append(sk.c, topCounter{key: k, count: r.fvar()})
		}
	}
	for m := range ws.evidence {
		n := r.count(maxEvidence, 1, "evidence ids")
		if n > 0 {
			// Sized by the input, not by Config.Evidence: appends past it
			// just grow the slice.
			ws.evidence[m] = make([]string, 0, min(n, e.cfg.Evidence))
		}
		for range n {
			// A smaller Config.Evidence than the writer's keeps the first ones,
			// as it would have.
			if s := r.str(); len(ws.evidence[m]) < e.cfg.Evidence {
				ws.evidence[m] = append(ws.evidence[m], s)
			}
		}
	}
	return ws
}

// restoreEngine decodes and sets the engine's own state (key "").
func (e *Engine) restoreEngine(data []byte) error {
	if data == nil {
		return fmt.Errorf("%w: the engine state cannot be deleted", ErrStateCorrupt)
	}
	r := &stateReader{b: data}
	r.version()
	flags := r.byte()
	if r.err == nil && flags&^(flagHaveMax|flagClosed|flagHaveWin) != 0 {
		r.fail("flags %#x", flags)
	}
	var maxTime time.Time
	closed, maxWin := int64(math.MinInt64), int64(0)
	if flags&flagHaveMax != 0 {
		maxTime = r.time()
	}
	if flags&flagClosed != 0 {
		closed = r.varint()
	}
	if flags&flagHaveWin != 0 {
		maxWin = r.varint()
	}
	n := r.count(math.MaxInt32, minPeerBytes, "peer groups")
	peers := make(map[groupKey]*peerStats, n)
	var prev groupKey
	for i := range n {
		g := groupKey{account: r.str(), typ: r.byte()}
		if r.err == nil && i > 0 && compareGroups(prev, g) >= 0 {
			r.fail("peer groups out of order")
		}
		prev = g
		p := &peerStats{weight: r.f64()}
		for m := range p.mean {
			p.mean[m] = r.f64()
		}
		for m := range p.m2 {
			p.m2[m] = r.f64()
		}
		p.windows = int(r.varint())
		p.samples = r.varint()
		p.last = r.varint()
		if r.err != nil {
			break
		}
		peers[g] = p
	}
	if r.err != nil {
		return r.err
	}
	if err := e.store.PutShardState(data[r.off:]); err != nil {
		return storeError("store shard state", err)
	}
	e.haveMax, e.maxTime = flags&flagHaveMax != 0, maxTime
	e.closed = closed
	e.haveWin, e.maxWin = flags&flagHaveWin != 0, maxWin
	e.peers = peers
	e.watermark.Store(math.MinInt64)
	if e.haveMax {
		e.watermark.Store(clampNanos(maxTime.Add(-e.cfg.AllowedLateness)))
	}
	e.closedThrough.Store(math.MinInt64)
	if closed != math.MinInt64 {
		e.closedThrough.Store(clampNanos(e.windowStart(closed + 1)))
	}
	return nil
}
