package baseline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Snapshot errors. Restore and DecodeSnapshot wrap one of these (or the
// file system's error, e.g. fs.ErrNotExist on a first run) with the file name
// and the place of the problem; match them with errors.Is.
var (
	// ErrSnapshotCorrupt: not a snapshot, truncated, a checksum mismatch, or
	// contents that contradict themselves.
	ErrSnapshotCorrupt = errors.New("baseline snapshot corrupt")
	// ErrSnapshotVersion: a snapshot in a format version this build cannot read.
	ErrSnapshotVersion = errors.New("baseline snapshot format version not supported")
	// ErrSnapshotIncompatible: a valid snapshot taken with options that change
	// the meaning of its data (window length, half-life, shard count).
	ErrSnapshotIncompatible = errors.New("baseline snapshot incompatible with options")
)

// Snapshot format, version 1. All integers little-endian, floats as IEEE-754
// bits, so a snapshot restores bit-identically on any machine.
//
//	header   magic "TWBASEL\n" | u32 version
//	         i64 window ns | i64 half-life ns | u32 shards | u32 CRC-32C of the header so far
//	shard*   u32 index | u64 rng | u32 sweep cursor | u32 sweep pass length | u32 entries | entry* | u32 open | u32 position*
//	entry    u32 key len | u32 account len | u8 type | u32 open windows | i64 last seen
//	         f64 weight | i64 last | u32 windows | f64 mean[3] | f64 m2[3] | f64 newest[3]
//	         key | account | (i64 window | f64 values[3])*
//	trailer  u32 CRC-32C of everything before it
//
// The header has its own checksum so that a damaged header reads as corrupt
// rather than as another version or incompatible options. Entries are written
// in the shard's internal order and the open list as positions, so that a
// restored store evicts and closes windows in exactly the order the original
// would have.
const (
	snapshotMagic   = "TWBASEL\n"
	snapshotVersion = 1
	entryFixedLen   = 4 + 4 + 1 + 4 + 8 + 8 + 8 + 4 + 9*8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes the store to path atomically: to a temporary file in
// the same directory, synced, renamed over path, and the directory synced. A
// crash leaves either the old snapshot or the new one, never a mix.
//
// Shards are copied one at a time under their own lock (into memory; the
// disk is written outside the lock), so updates to other shards go on. Each
// shard is consistent; to have all shards at the same window, snapshot when
// the caller is between window closes (the detection stage does it at a
// close barrier).
func (s *Store) WriteSnapshot(path string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write baseline snapshot %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write baseline snapshot %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = s.EncodeSnapshot(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Restore reads a snapshot written by WriteSnapshot into a new store with the
// given options. Window, HalfLife and Shards (after defaults) must match the
// snapshot's, or the error wraps ErrSnapshotIncompatible; MaxPrincipals and
// IdleTTL may differ (a smaller cap evicts on restore). A missing file gives
// an error wrapping fs.ErrNotExist, so a caller can start empty on a first run.
func Restore(path string, opts Options) (*Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("restore baseline snapshot: %w", err)
	}
	defer f.Close()
	s, err := DecodeSnapshot(bufio.NewReaderSize(f, 1<<20), opts)
	if err != nil {
		return nil, fmt.Errorf("restore baseline snapshot %s: %w", path, err)
	}
	return s, nil
}

// EncodeSnapshot writes the store in snapshot format to w (see WriteSnapshot
// for consistency). It is the body of WriteSnapshot, for callers that store
// snapshots elsewhere than in a local file.
func (s *Store) EncodeSnapshot(w io.Writer) error {
	crc := uint32(0)
	put := func(b []byte) error {
		crc = crc32.Update(crc, castagnoli, b)
		_, err := w.Write(b)
		return err
	}
	b := append([]byte(nil), snapshotMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapshotVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.opts.Window))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.opts.HalfLife))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.shards)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := put(b); err != nil {
		return err
	}
	for i := range s.shards {
		b = s.encodeShard(b[:0], i)
		if err := put(b); err != nil {
			return err
		}
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(b[:0], crc))
	return err
}

// encodeShard appends shard i to b, holding its lock only for the copy.
func (s *Store) encodeShard(b []byte, i int) []byte {
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s.settle(sh)
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(i))
	b = le.AppendUint64(b, sh.rng)
	cursor, passLen := sh.cursor, sh.passLen
	if cursor >= len(sh.all) {
		cursor, passLen = 0, 0 // the sweep starts a new pass either way
	}
	b = le.AppendUint32(b, uint32(cursor))
	b = le.AppendUint32(b, uint32(passLen))
	b = le.AppendUint32(b, uint32(len(sh.all)))
	for _, e := range sh.all {
		wins := e.windows()
		b = le.AppendUint32(b, uint32(len(e.key)))
		b = le.AppendUint32(b, uint32(len(e.account)))
		b = append(b, e.typ)
		b = le.AppendUint32(b, uint32(len(wins)))
		b = le.AppendUint64(b, uint64(e.lastSeen))
		p := &e.st
		b = le.AppendUint64(b, math.Float64bits(p.weight))
		b = le.AppendUint64(b, uint64(p.last))
		b = le.AppendUint32(b, p.windows)
		for _, arr := range [...]*[NumMetrics]float64{&p.mean, &p.m2, &p.newest} {
			for _, v := range arr {
				b = le.AppendUint64(b, math.Float64bits(v))
			}
		}
		b = append(b, e.key...)
		b = append(b, e.account...)
		for _, ow := range wins {
			b = le.AppendUint64(b, uint64(ow.w))
			for _, v := range ow.vals {
				b = le.AppendUint64(b, math.Float64bits(v))
			}
		}
	}
	b = le.AppendUint32(b, uint32(len(sh.open)))
	for _, e := range sh.open {
		b = le.AppendUint32(b, uint32(e.pos))
	}
	return b
}

// DecodeSnapshot reads a snapshot written by EncodeSnapshot from r into a new
// store with the given options (see Restore). It reads r to its end: trailing
// bytes are an error.
func DecodeSnapshot(r io.Reader, opts Options) (*Store, error) {
	s := New(opts)
	d := &decoder{r: r}
	if err := s.decodeHeader(d); err != nil {
		return nil, err
	}
	for i := range s.shards {
		if err := s.decodeShard(d, i); err != nil {
			return nil, err
		}
	}
	want := d.crc
	got := d.u32()
	if d.err != nil {
		return nil, d.err
	}
	if got != want {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrSnapshotCorrupt, got, want)
	}
	if n, _ := io.ReadFull(r, make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("%w: trailing data after checksum at offset %d", ErrSnapshotCorrupt, d.off)
	}
	// A smaller cap than the snapshot's: evict down to it, deterministically.
	for i := range s.shards {
		sh := &s.shards[i]
		for len(sh.all) > s.shardCap && s.evictOne(sh) {
		}
	}
	return s, nil
}

func (s *Store) decodeHeader(d *decoder) error {
	magic := d.read(len(snapshotMagic))
	if d.err != nil {
		return d.err
	}
	if string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not a baseline snapshot (bad magic %q)", ErrSnapshotCorrupt, magic)
	}
	if v := d.u32(); d.err == nil && v != snapshotVersion {
		return fmt.Errorf("%w: version %d, this build reads version %d", ErrSnapshotVersion, v, snapshotVersion)
	}
	window := time.Duration(d.u64())
	halfLife := time.Duration(d.u64())
	shards := d.u32()
	want := d.crc
	got := d.u32()
	if d.err != nil {
		return d.err
	}
	if got != want {
		return fmt.Errorf("%w: header checksum mismatch", ErrSnapshotCorrupt)
	}
	o := s.opts
	switch {
	case window != o.Window:
		return fmt.Errorf("%w: snapshot window %v, options %v", ErrSnapshotIncompatible, window, o.Window)
	case halfLife != o.HalfLife:
		return fmt.Errorf("%w: snapshot half-life %v, options %v", ErrSnapshotIncompatible, halfLife, o.HalfLife)
	case int64(shards) != int64(o.Shards):
		return fmt.Errorf("%w: snapshot has %d shards, options %d", ErrSnapshotIncompatible, shards, o.Shards)
	}
	return nil
}

func (s *Store) decodeShard(d *decoder, i int) error {
	sh := &s.shards[i]
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: shard %d: %s (offset %d)", ErrSnapshotCorrupt, i, fmt.Sprintf(format, args...), d.off)
	}
	idx := d.u32()
	rng := d.u64()
	cursor := d.u32()
	passLen := d.u32()
	n := d.u32()
	if d.err != nil {
		return d.err
	}
	if idx != uint32(i) {
		return corrupt("shard index %d out of order", idx)
	}
	if cursor > n {
		return corrupt("sweep cursor %d past %d entries", cursor, n)
	}
	sh.rng, sh.cursor, sh.passLen = rng, int(cursor), int(passLen)
	withWindows := 0
	for j := uint32(0); j < n; j++ {
		e, err := s.decodeEntry(d, i)
		if err != nil {
			return err
		}
		h := xxhash.Sum64String(e.key)
		if h&s.mask != uint64(i) {
			return corrupt("entry %d: key %q belongs to shard %d", j, e.key, h&s.mask)
		}
		if sh.find(h, e.key) != nil {
			return corrupt("entry %d: duplicate key %q", j, e.key)
		}
		if e.nwin > 0 || e.more != nil {
			withWindows++
		}
		sh.insert(h, e)
	}
	nOpen := d.u32()
	if d.err != nil {
		return d.err
	}
	if int64(nOpen) != int64(withWindows) {
		return corrupt("%d entries on the open list, %d have open windows", nOpen, withWindows)
	}
	for j := uint32(0); j < nOpen; j++ {
		pos := d.u32()
		if d.err != nil {
			return d.err
		}
		if pos >= n {
			return corrupt("open list position %d past %d entries", pos, n)
		}
		e := sh.all[pos]
		if e.isOpen || (e.nwin == 0 && e.more == nil) {
			return corrupt("open list position %d repeated or without open windows", pos)
		}
		e.isOpen = true
		e.st.openSeq = j + 1 // the format keeps the order, not the numbers
		sh.open = append(sh.open, e)
		sh.openN.Add(1)
	}
	return nil
}

func (s *Store) decodeEntry(d *decoder, i int) (*entry, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: shard %d: %s (offset %d)", ErrSnapshotCorrupt, i, fmt.Sprintf(format, args...), d.off)
	}
	fixed := d.read(entryFixedLen)
	if d.err != nil {
		return nil, d.err
	}
	le := binary.LittleEndian
	keyLen, acctLen := le.Uint32(fixed), le.Uint32(fixed[4:])
	e := &entry{typ: fixed[8]}
	nwins := le.Uint32(fixed[9:])
	e.lastSeen = int64(le.Uint64(fixed[13:]))
	p := &e.st
	p.weight = math.Float64frombits(le.Uint64(fixed[21:]))
	p.last = int64(le.Uint64(fixed[29:]))
	p.windows = le.Uint32(fixed[37:])
	off := 41
	for _, arr := range [...]*[NumMetrics]float64{&p.mean, &p.m2, &p.newest} {
		for m := range arr {
			arr[m] = math.Float64frombits(le.Uint64(fixed[off:]))
			off += 8
		}
	}
	if keyLen > MaxKeyLen || acctLen > MaxKeyLen {
		return nil, corrupt("string length %d/%d over limit", keyLen, acctLen)
	}
	e.key = string(d.read(int(keyLen)))
	e.account = string(d.read(int(acctLen)))
	if d.err != nil {
		return nil, d.err
	}
	for k := uint32(0); k < nwins; k++ {
		b := d.read(32)
		if d.err != nil {
			return nil, d.err
		}
		w := int64(le.Uint64(b))
		if k > 0 {
			if wins := e.windows(); w <= wins[len(wins)-1].w {
				return nil, corrupt("key %q: open windows out of order", e.key)
			}
		}
		ow := e.window(w)
		for m := range ow.vals {
			ow.vals[m] = math.Float64frombits(le.Uint64(b[8+8*m:]))
		}
	}
	return e, nil
}

// decoder reads a snapshot sequentially, keeping a running CRC-32C of what it
// has read and the first error (truncation reads as ErrSnapshotCorrupt).
type decoder struct {
	r   io.Reader
	crc uint32
	off int64
	buf []byte
	err error
}

// read returns the next n bytes, valid until the next call.
func (d *decoder) read(n int) []byte {
	if d.err != nil {
		return nil
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	got, err := io.ReadFull(d.r, b)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			d.err = fmt.Errorf("%w: truncated at offset %d", ErrSnapshotCorrupt, d.off+int64(got))
		} else {
			d.err = fmt.Errorf("read at offset %d: %w", d.off+int64(got), err)
		}
		return nil
	}
	d.crc = crc32.Update(d.crc, castagnoli, b)
	d.off += int64(n)
	return b
}

func (d *decoder) u32() uint32 {
	if b := d.read(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.read(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
