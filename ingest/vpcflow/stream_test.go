package vpcflow

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/trailwatch/trailwatch/ingest"
)

func gz(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decodeAll(t testing.TB, d *Decoder, in []byte, pos ingest.Position) (*recorder, error) {
	r := &recorder{}
	err := d.Decode(bytes.NewReader(in), pos, r)
	return r, err
}

func TestDecodeStream(t *testing.T) {
	text := v2Header + "\n" + v2Out + "\r\n\n" + v2In + "\n" + v2Lat // last line without newline
	want := []string{"skip flow_header", evOut, "skip blank", evIn, evLat}
	wantLines := []int64{1, 2, 3, 4, 5}
	wantOffsets := []int64{0, 115, 115 + int64(len(v2Out)) + 2, 115 + int64(len(v2Out)) + 3, 115 + 2*int64(len(v2Out)) + 4}
	inputs := map[string][]byte{
		"plain":       []byte(text),
		"gzip":        gz(t, text),
		"base64+gzip": []byte(base64.StdEncoding.EncodeToString(gz(t, text)) + "\n"),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			d, _ := NewDecoder(Options{})
			r, err := decodeAll(t, d, in, ingest.FilePos("f"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(r.outcomes, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got\n%s", strings.Join(r.outcomes, "\n"))
			}
			for i, p := range r.poss {
				if p.Name != "f" || p.Line != wantLines[i] || p.Index != wantLines[i]-1 || p.Offset != wantOffsets[i] || p.Partition != -1 {
					t.Errorf("record %d: pos %+v, want line %d offset %d", i, p, wantLines[i], wantOffsets[i])
				}
			}
		})
	}
}

func TestDecodeStreamKafkaPosition(t *testing.T) {
	d, _ := NewDecoder(Options{})
	pos := ingest.Position{Name: "flows", Partition: 3, Offset: 991}
	r, err := decodeAll(t, d, []byte(v2Out+"\n"+v2In+"\n"), pos)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range r.poss {
		if p.Partition != 3 || p.Offset != 991 || p.Index != int64(i) || p.Line != int64(i+1) {
			t.Errorf("record %d: %+v", i, p)
		}
	}
}

// Each stream starts from the configured format, whatever the last stream's
// header said: a decoder is reused across files.
func TestDecodeStreamResetsFormat(t *testing.T) {
	d, _ := NewDecoder(Options{})
	if _, err := decodeAll(t, d, []byte("start interface-id\n1700000000 eni-9\n"), ingest.FilePos("a")); err != nil {
		t.Fatal(err)
	}
	r, err := decodeAll(t, d, []byte(v2Out+"\n"), ingest.FilePos("b"))
	if err != nil || len(r.outcomes) != 1 || r.outcomes[0] != evOut {
		t.Fatalf("second stream: %v %v", r.outcomes, err)
	}
}

func TestDecodeTruncatedGzip(t *testing.T) {
	var text strings.Builder
	text.WriteString(v2Header + "\n")
	for range 2000 {
		text.WriteString(v2Out + "\n")
	}
	full := gz(t, text.String())
	d, _ := NewDecoder(Options{})
	r, err := decodeAll(t, d, full[:len(full)/2], ingest.FilePos("cut.gz"))
	if !errors.Is(err, ingest.ErrCorruptCompression) {
		t.Fatalf("err = %v, want ErrCorruptCompression", err)
	}
	if len(r.events) == 0 || len(r.events) >= 2000 {
		t.Fatalf("%d events before the damage, want some but not all", len(r.events))
	}
	if len(r.rejects) != 0 {
		t.Errorf("a cut line was delivered: %v", r.rejects[0].Detail)
	}
	if !strings.Contains(err.Error(), "cut.gz") {
		t.Errorf("error does not name the stream: %v", err)
	}

	// A corrupt header is an error from the start.
	_, err = decodeAll(t, d, []byte{0x1f, 0x8b, 0, 0}, ingest.FilePos("bad.gz"))
	if !errors.Is(err, ingest.ErrCorruptCompression) {
		t.Errorf("corrupt gzip header: %v", err)
	}
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	d, _ := NewDecoder(Options{})
	r := &recorder{}
	in := io.MultiReader(strings.NewReader(v2Out+"\n"+v2In[:20]), iotest.ErrReader(boom))
	err := d.Decode(in, ingest.FilePos("f"), r)
	if !errors.Is(err, boom) || errors.Is(err, ingest.ErrCorruptCompression) {
		t.Fatalf("err = %v", err)
	}
	if len(r.outcomes) != 1 || r.outcomes[0] != evOut {
		t.Fatalf("outcomes %v", r.outcomes)
	}
}

func TestDecodeLongLine(t *testing.T) {
	d, _ := NewDecoder(Options{MaxLineBytes: 100 << 10})
	long := strings.Repeat("x", 300<<10)
	in := v2Out + "\n" + long + "\n" + v2In + "\n" + strings.Repeat("y ", 40<<10) + "\n"
	r, err := decodeAll(t, d, []byte(in), ingest.FilePos("f"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{evOut, "reject record_too_large: line of 307201 bytes exceeds 102400", evIn, "reject bad_flow_line: more than 256 fields, format has 14"}
	if strings.Join(r.outcomes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s", strings.Join(r.outcomes, "\n"))
	}
	if p := r.poss[2]; p.Line != 3 || p.Offset != int64(len(v2Out)+1+len(long)+1) {
		t.Errorf("line after the long one: %+v", p)
	}
	if len(r.rejects[0].Raw) > 1024 {
		t.Errorf("Raw of an oversized line is %d bytes; keep it short", len(r.rejects[0].Raw))
	}
}

// TestDecodeLineAllocs: the steady state of the hot path allocates nothing.
func TestDecodeLineAllocs(t *testing.T) {
	for _, c := range benchCases {
		d, _ := NewDecoder(Options{Format: c.format})
		line := []byte(c.line)
		s := &countSink{}
		pos := ingest.FilePos("f")
		d.DecodeLine(line, pos, s) // warm the intern table
		if s.events != 1 {
			t.Fatalf("%s: line did not decode", c.name)
		}
		if n := testing.AllocsPerRun(200, func() { d.DecodeLine(line, pos, s) }); n != 0 {
			t.Errorf("%s: %.1f allocs per line, want 0", c.name, n)
		}
	}
}

// countSink counts without keeping anything, like a pipeline stage would.
type countSink struct{ events, other int }

func (c *countSink) Event(*ingest.Event)           { c.events++ }
func (c *countSink) Insight(*ingest.Event, []byte) { c.other++ }
func (c *countSink) Reject(*ingest.Reject)         { c.other++ }
func (c *countSink) Skip(ingest.Reason, ingest.Position) {
	c.other++
}
