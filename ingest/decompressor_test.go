package ingest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodeAll reads a stream through open and returns what came out, the
// encoding and the errors (of the open and of the read), as strings so that
// two implementations can be compared exactly.
func decodeAll(open func(io.Reader) (io.Reader, string, error), in io.Reader) (string, string, string, bool) {
	r, enc, err := open(in)
	if err != nil {
		return "", enc, err.Error(), errors.Is(err, ErrCorruptCompression)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return string(out), enc, err.Error(), errors.Is(err, ErrCorruptCompression)
	}
	return string(out), enc, "", false
}

func decompressorCases() map[string][]byte {
	body := []byte(strings.Repeat(`{"Records":[]}`+"\n", 100))
	z := gz(bytes.Repeat([]byte("abcdefgh"), 10000))
	return map[string][]byte{
		"empty":             nil,
		"plain":             body,
		"one magic byte":    {0x1f},
		"gzip":              gz(body),
		"multi-member gzip": append(gz(body[:700]), gz(body[700:])...),
		"base64 gzip":       []byte(base64.StdEncoding.EncodeToString(gz(body))),
		"truncated gzip":    z[:len(z)/2],
		"short gzip header": z[:5],
		"gzip then garbage": append(gz(body), "garbage"...),
	}
}

// TestDecompressorMatchesDecompress: one Decompressor, reused across every
// case in turn (twice, so each case also follows every other), gives exactly
// what a fresh Decompress gives: content, encoding, error text and error class.
func TestDecompressorMatchesDecompress(t *testing.T) {
	cases := decompressorCases()
	var d Decompressor
	for round := range 2 {
		for name, in := range cases {
			wOut, wEnc, wErr, wCorrupt := decodeAll(Decompress, bytes.NewReader(in))
			gOut, gEnc, gErr, gCorrupt := decodeAll(d.Reset, bytes.NewReader(in))
			if gOut != wOut || gEnc != wEnc || gErr != wErr || gCorrupt != wCorrupt {
				t.Errorf("round %d %s: got (%d bytes, %q, %q, %v), want (%d bytes, %q, %q, %v)",
					round, name, len(gOut), gEnc, gErr, gCorrupt, len(wOut), wEnc, wErr, wCorrupt)
			}
			d.Release()
		}
	}
}

func TestDecompressorReadErrorIsNotCorruption(t *testing.T) {
	z := gz(bytes.Repeat([]byte("abcdefgh"), 10000))
	var d Decompressor
	r, _, err := d.Reset(&failingReader{bytes.NewReader(z[:len(z)/2])})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, errDisk) || errors.Is(err, ErrCorruptCompression) {
		t.Fatalf("err = %v: a read error must stay a read error", err)
	}
}

// TestDecompressorAllocs: after the first stream, reading another gzip
// stream allocates (almost) nothing; the point of the type.
func TestDecompressorAllocs(t *testing.T) {
	in := gz(bytes.Repeat([]byte(`{"Records":[]}`), 1000))
	var d Decompressor
	buf := make([]byte, 32<<10)
	var br bytes.Reader
	run := func() {
		br.Reset(in)
		r, _, err := d.Reset(&br)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n > 2 {
		t.Errorf("%.0f allocations per reused stream, want at most 2", n)
	}
}

// FuzzDecompressor holds the reused Decompressor to Decompress on any input,
// after a gzip stream has left state behind.
func FuzzDecompressor(f *testing.F) {
	for _, in := range decompressorCases() {
		f.Add(in)
	}
	prime := gz([]byte("prime the gzip state"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decompressor
		decodeAll(d.Reset, bytes.NewReader(prime))
		wOut, wEnc, wErr, wCorrupt := decodeAll(Decompress, bytes.NewReader(in))
		gOut, gEnc, gErr, gCorrupt := decodeAll(d.Reset, bytes.NewReader(in))
		if gOut != wOut || gEnc != wEnc || gErr != wErr || gCorrupt != wCorrupt {
			t.Fatalf("got (%d bytes, %q, %q, %v), want (%d bytes, %q, %q, %v)", len(gOut), gEnc, gErr, gCorrupt, len(wOut), wEnc, wErr, wCorrupt)
		}
	})
}
