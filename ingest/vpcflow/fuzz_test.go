package vpcflow

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

// fuzzFormats are the configured formats FuzzDecodeLine picks from.
var fuzzFormats = []string{
	DefaultFormat,
	v5Header,
	"version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
	"start instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr bytes flow-direction pkt-dst-aws-service",
	"start interface-id srcaddr dstaddr bytes",
	"interface-id start dstaddr srcaddr dstport srcport bytes region account-id flow-direction",
}

// fmtSink records events together with the format they were decoded with.
type fmtSink struct {
	recorder
	d       *Decoder
	formats []Format
}

func (s *fmtSink) Event(ev *ingest.Event) {
	f, _ := s.d.Format()
	s.formats = append(s.formats, f)
	s.recorder.Event(ev)
}

// checkRoundTrip asserts that each event re-encodes with AppendLine to a line
// that decodes to the same event under the same options.
func checkRoundTrip(t *testing.T, opts Options, s *fmtSink, extra *Fields) {
	t.Helper()
	opts.Format = ""
	d2, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.events {
		ev := s.events[i]
		ev.Pos = ingest.Position{}
		f := s.formats[i]
		d2.cur = &f // may hold unknown columns from a header line
		line := d2.AppendLine(nil, f, &ev, extra)
		r := &recorder{}
		d2.DecodeLine(line, ingest.Position{}, r)
		if len(r.events) != 1 {
			t.Fatalf("AppendLine(%s) = %q decodes to %v, want one event %s", f, line, r.outcomes, describeEvent(&ev))
		}
		if got := r.events[0]; got != ev {
			t.Fatalf("round trip through %q:\n got %s\nwant %s\n%#v\n%#v", line, describeEvent(&got), describeEvent(&ev), got, ev)
		}
	}
}

func corpusLines(f *testing.F) {
	files := corpusFiles(f)
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			f.Add(uint8(0), append([]byte(nil), sc.Bytes()...))
		}
		fh.Close()
	}
}

func FuzzDecodeLine(f *testing.F) {
	corpusLines(f)
	for i, l := range []string{v2Out, v2In, v2Lat,
		v5("i-1", "10.0.0.1", "52.95.128.179", "-", "-", "S3", "egress"),
		v5("-", "10.0.0.220", "10.0.1.5", "10.0.1.5", "203.0.113.5", "-", "-"),
		`{"message":"` + v2Out + `"}`,
		"1700000000 i-1 eni-1 10.0.0.1 8.8.8.8 - - 5 ingress S3",
		"1700000000 eni-1 fd00::1 2001:db8::1 99",
	} {
		f.Add(uint8(i%len(fuzzFormats)), []byte(l))
	}
	f.Fuzz(func(t *testing.T, sel uint8, line []byte) {
		for _, excl := range [][]string{nil, {"S3"}} {
			opts := Options{Format: fuzzFormats[int(sel)%len(fuzzFormats)], ExcludeServices: excl}
			d, err := NewDecoder(opts)
			if err != nil {
				t.Fatal(err)
			}
			s := &fmtSink{d: d}
			d.DecodeLine(line, ingest.FilePos("fuzz"), s)
			if len(s.outcomes) == 0 && !ingest.LooksLikeCWL(line) {
				t.Fatalf("line %q produced no outcome", line)
			}
			checkRoundTrip(t, opts, s, nil)

			// Again with the line's own values as extra: the event's
			// columns must win wherever they matter.
			t2 := trimLine(line)
			if len(s.events) == 1 && len(t2) > 0 && t2[0] != '{' {
				toks := split(nil, t2, maxColumns)
				if len(toks) == len(s.formats[0].cols) {
					var extra Fields
					for i, fld := range s.formats[0].cols {
						extra[fld] = string(toks[i])
					}
					checkRoundTrip(t, opts, s, &extra)
				}
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, name := range corpusFiles(f) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(v2Out + "\nstart interface-id srcaddr dstaddr bytes\n1700000000 eni-1 10.0.0.1 8.8.8.8 5\n" + v2Header + "\n" + v2In))
	f.Add(gz(f, v2Header+"\n"+v2Out+"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{}
		d, _ := NewDecoder(opts)
		s := &fmtSink{d: d}
		err := d.Decode(bytes.NewReader(data), ingest.FilePos("fuzz"), s)
		_ = err // errors are allowed (corrupt gzip); panics are not
		var last int64
		for _, p := range s.poss {
			if p.Line < last || p.Line < 1 {
				t.Fatalf("positions out of order: %d after %d", p.Line, last)
			}
			last = p.Line
		}
		checkRoundTrip(t, opts, s, nil)
	})
}
