package cloudtrail

import (
	"io"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

// TestLargeStreamBoundedMemory decodes a 50 MB log file generated on the fly
// (never held in memory) and checks that the decoder's buffers stay at a few
// times the largest record: the file is streamed, not loaded.
func TestLargeStreamBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB stream")
	}
	pr, pw := io.Pipe()
	type gen struct{ n, maxRec int }
	done := make(chan gen, 1)
	go func() {
		n, maxRec := genRecords(pw, 50<<20)
		pw.Close()
		done <- gen{n, maxRec}
	}()
	d := NewDecoder(Options{})
	s := &peakSink{d: d}
	if err := d.Decode(pr, ingest.FilePos("big.json"), s); err != nil {
		t.Fatal(err)
	}
	g := <-done
	if s.events != g.n || s.other != 0 {
		t.Fatalf("%d events and %d others, want %d events", s.events, s.other, g.n)
	}
	if s.peakBuf > 4*g.maxRec {
		t.Errorf("scanner buffer reached %d bytes; largest record is %d", s.peakBuf, g.maxRec)
	}
	if s.peakTmp > 4*g.maxRec {
		t.Errorf("scratch buffer reached %d bytes; largest record is %d", s.peakTmp, g.maxRec)
	}
	if len(d.tab.m) > internEntries {
		t.Errorf("intern table has %d entries, bound %d", len(d.tab.m), internEntries)
	}
	t.Logf("%d records, largest %d bytes, scanner buffer peak %d bytes", g.n, g.maxRec, s.peakBuf)
}

// peakSink watches the decoder's buffers while records arrive.
type peakSink struct {
	nopSink
	d                *Decoder
	peakBuf, peakTmp int
}

func (s *peakSink) Event(ev *ingest.Event) {
	s.events++
	s.peakBuf = max(s.peakBuf, cap(s.d.sc.buf))
	s.peakTmp = max(s.peakTmp, cap(s.d.tmp))
}

// TestSteadyStateAllocs: once the intern table is warm, decoding a record
// allocates only what must be new per record (the event id).
func TestSteadyStateAllocs(t *testing.T) {
	d := NewDecoder(Options{})
	s := &nopSink{}
	rec := []byte(recS3)
	d.DecodeRecord(rec, ingest.FilePos("x"), s)
	if a := testing.AllocsPerRun(200, func() { d.DecodeRecord(rec, ingest.FilePos("x"), s) }); a > 1 {
		t.Errorf("DecodeRecord: %.1f allocations per record, want <= 1", a)
	}
	file := []byte(records(recS3, recIAMUser, recS3, recIAMUser))
	r := &rereader{b: file}
	_ = d.Decode(r, ingest.FilePos("x"), s)
	if a := testing.AllocsPerRun(50, func() {
		r.off = 0
		_ = d.Decode(r, ingest.FilePos("x"), s)
	}); a > 12 {
		t.Errorf("Decode of a 4-record file: %.1f allocations, want <= 12", a)
	}
}

// rereader is a resettable bytes.Reader without the allocation of a new one.
type rereader struct {
	b   []byte
	off int
}

func (r *rereader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}
