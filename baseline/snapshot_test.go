package baseline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snapshotFixture returns a store with closed history, late values, open
// windows (one principal with more than two, so spilled), and evictions
// behind it.
func snapshotFixture(t testing.TB, opts Options) *Store {
	s := New(opts)
	runWorkload(t, s, 11, 0, 30)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 300 {
		w := int64(30 + rng.IntN(3))
		s.Add(fmt.Sprintf("open/%d", i%40), Meta{Type: uint8(i % 5), Account: fmt.Sprint(i % 3)}, w, Values{1, 2, 3})
	}
	s.Add("arn:aws:sts::1234:assumed-role/r/1", Meta{}, 10, Values{5}) // late
	for w := int64(30); w < 36; w++ {
		s.Add("spilled", Meta{Account: "acct"}, w, Values{float64(w)})
	}
	return s
}

func encode(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.EncodeSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSnapshotRoundTrip: every principal's statistics, meta and open windows
// survive a write and restore exactly, and the restored store goes on to
// produce exactly what the original would have.
func TestSnapshotRoundTrip(t *testing.T) {
	opts := Options{Shards: 16, MaxPrincipals: 2000, IdleTTL: 15 * time.Minute}
	orig := snapshotFixture(t, opts)
	path := filepath.Join(t.TempDir(), "baseline.snap")
	if err := orig.WriteSnapshot(path); err != nil {
		t.Fatal(err)
	}
	if err := orig.WriteSnapshot(path); err != nil { // over an existing one
		t.Fatal(err)
	}
	got, err := Restore(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if got.Len() != orig.Len() || got.Stats().Open != orig.Stats().Open || got.Stats().Bytes != orig.Stats().Bytes {
		t.Fatalf("restored %+v, original %+v", got.Stats(), orig.Stats())
	}
	for i := range orig.shards {
		a, b := &orig.shards[i], &got.shards[i]
		if len(a.all) != len(b.all) || len(a.open) != len(b.open) {
			t.Fatalf("shard %d: sizes differ", i)
		}
		for j, ea := range a.all {
			eb := b.all[j]
			if ea.key != eb.key || ea.account != eb.account || ea.typ != eb.typ || ea.st != eb.st || ea.lastSeen != eb.lastSeen || ea.isOpen != eb.isOpen {
				t.Fatalf("shard %d entry %d: %+v != %+v", i, j, ea, eb)
			}
			if fmt.Sprint(ea.windows()) != fmt.Sprint(eb.windows()) {
				t.Fatalf("%s: open windows %v != %v", ea.key, ea.windows(), eb.windows())
			}
		}
		for j := range a.open {
			if a.open[j].key != b.open[j].key {
				t.Fatalf("shard %d: open order differs at %d", i, j)
			}
		}
	}
	if _, _, ok := got.Get("spilled", 40); !ok {
		t.Fatal("spilled principal lost")
	}
	if !bytes.Equal(encode(t, orig), encode(t, got)) {
		t.Fatal("re-encoding the restored store differs")
	}
	// The future is the same: same evictions, sweeps and closes.
	if !bytes.Equal(runWorkload(t, orig, 12, 31, 40), runWorkload(t, got, 12, 31, 40)) {
		t.Fatal("restored store diverges from the original")
	}
}

// TestSnapshotEmpty: an empty store round-trips (an empty baseline is a
// valid state, as opposed to a failed restore).
func TestSnapshotEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.snap")
	if err := New(Options{}).WriteSnapshot(path); err != nil {
		t.Fatal(err)
	}
	s, err := Restore(path, Options{})
	if err != nil || s.Len() != 0 {
		t.Fatalf("Restore = %v, %v", s, err)
	}
}

func TestSnapshotErrors(t *testing.T) {
	opts := Options{Shards: 4}
	good := encode(t, snapshotFixture(t, opts))
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
		opts Options
		want error
	}{
		{"corrupt byte in the middle", mod(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }), opts, ErrSnapshotCorrupt},
		{"corrupt checksum", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), opts, ErrSnapshotCorrupt},
		{"corrupt header", mod(func(b []byte) []byte { b[14] ^= 1; return b }), opts, ErrSnapshotCorrupt},
		{"truncated", good[:len(good)*2/3], opts, ErrSnapshotCorrupt},
		{"truncated header", good[:20], opts, ErrSnapshotCorrupt},
		{"empty file", nil, opts, ErrSnapshotCorrupt},
		{"trailing data", append(bytes.Clone(good), 0), opts, ErrSnapshotCorrupt},
		{"not a snapshot", []byte("{\"hello\": \"world\"}\n and some more bytes to fill a header"), opts, ErrSnapshotCorrupt},
		{"other version", mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }), opts, ErrSnapshotVersion},
		{"other window", good, Options{Shards: 4, Window: 5 * time.Minute}, ErrSnapshotIncompatible},
		{"other half-life", good, Options{Shards: 4, HalfLife: time.Hour}, ErrSnapshotIncompatible},
		{"other shard count", good, Options{Shards: 8}, ErrSnapshotIncompatible},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tc.name, " ", "_"), tc.data)
			s, err := Restore(path, tc.opts)
			if !errors.Is(err, tc.want) || s != nil {
				t.Fatalf("Restore = %v, %v; want %v", s, err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			for _, other := range []error{ErrSnapshotCorrupt, ErrSnapshotVersion, ErrSnapshotIncompatible, fs.ErrNotExist} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %q also matches %v", err, other)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Restore(filepath.Join(dir, "nope.snap"), opts)
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("Restore = %v; want fs.ErrNotExist", err)
		}
	})
	t.Run("unwritable directory", func(t *testing.T) {
		if err := New(opts).WriteSnapshot(filepath.Join(dir, "no", "such", "dir", "x.snap")); err == nil {
			t.Fatal("WriteSnapshot into a missing directory succeeded")
		}
	})
}

// TestSnapshotEveryDamageDetected: every truncation and every single-byte
// change of a small snapshot is an error, never a silently different
// baseline (CRC-32C detects all burst errors up to 32 bits).
func TestSnapshotEveryDamageDetected(t *testing.T) {
	s := New(Options{Shards: 2})
	for i := range 5 {
		s.Add(fmt.Sprint("p", i), Meta{Account: "a"}, int64(i), Values{1, 2, 3})
		closeAll(s, int64(i))
	}
	s.Add("p0", Meta{}, 9, Values{1})
	good := encode(t, s)
	opts := Options{Shards: 2}
	for n := range len(good) {
		if _, err := DecodeSnapshot(bytes.NewReader(good[:n]), opts); !errors.Is(err, ErrSnapshotCorrupt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		_, err := DecodeSnapshot(bytes.NewReader(b), opts)
		want := ErrSnapshotCorrupt
		if i >= 8 && i < 12 {
			want = ErrSnapshotVersion // the version field is read before the header checksum
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
}

// TestRestoreSmallerCap: restoring into a smaller cap evicts down to it.
func TestRestoreSmallerCap(t *testing.T) {
	opts := Options{Shards: 4}
	s := New(opts)
	for i := range 100 {
		s.Add(fmt.Sprint(i), Meta{}, int64(i), Values{1})
		closeAll(s, int64(i))
	}
	opts.MaxPrincipals = 40
	r, err := DecodeSnapshot(bytes.NewReader(encode(t, s)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Tracked != 40 || st.EvictedCap != 60 {
		t.Errorf("Stats = %+v", st)
	}
}

// fixChecksums makes b's header and trailer checksums valid, so that the
// fuzzer reaches the structural checks behind them.
func fixChecksums(b []byte) []byte {
	const hdr = 8 + 4 + 8 + 8 + 4
	if len(b) >= hdr+4 {
		binary.LittleEndian.PutUint32(b[hdr:], crc32.Checksum(b[:hdr], castagnoli))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// FuzzDecodeSnapshot: no input panics the decoder or the store restored from
// it, and whatever decodes re-encodes to a fixed point.
func FuzzDecodeSnapshot(f *testing.F) {
	opts := Options{Shards: 2, MaxPrincipals: 1 << 20}
	s := New(opts)
	for i := range 4 {
		s.Add(fmt.Sprint("p", i), Meta{Account: "a"}, int64(i), Values{1, 2, 3})
		closeAll(s, int64(i))
	}
	for w := int64(5); w < 9; w++ {
		s.Add("p1", Meta{}, w, Values{1})
	}
	good := encode(f, s)
	f.Add(good[:len(good)-4])
	f.Add(encode(f, New(opts))[:len(encode(f, New(opts)))-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		data := fixChecksums(bytes.Clone(body))
		r, err := DecodeSnapshot(bytes.NewReader(data), opts)
		if err != nil {
			if !errors.Is(err, ErrSnapshotCorrupt) && !errors.Is(err, ErrSnapshotVersion) && !errors.Is(err, ErrSnapshotIncompatible) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		e1 := encode(t, r)
		r2, err := DecodeSnapshot(bytes.NewReader(e1), opts)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		if e2 := encode(t, r2); !bytes.Equal(e1, e2) {
			t.Fatal("encoding is not a fixed point")
		}
		// The restored store must be usable.
		for sh := range r.NumShards() {
			r.CloseWindow(sh, 1<<40, func(*Closed) {})
		}
		r.Add("p1", Meta{}, 1<<40+1, Values{1})
		_ = r.Stats()
	})
}
