package vpcflow

import (
	"bytes"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

var benchCases = []struct{ name, format, line string }{
	{"v2", "", "2 123456789010 eni-1235b8ca123456789 172.31.16.139 52.95.128.179 20641 443 6 20 4249 1418530010 1418530070 ACCEPT OK"},
	{"v5", v5Header, v5("i-0c50d5961bcb2d47b", "10.0.0.71", "52.95.128.179", "10.0.0.71", "52.95.128.179", "S3", "egress")},
	{"ipv6", "", "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2600:1f18:1234:a102:3304:8879:34cf:4071 34892 443 6 54 8855 1477913708 1477913820 ACCEPT OK"},
}

// BenchmarkDecodeLine measures one record line through DecodeLine to a sink
// that only counts. lines/s per core = 1e9 / (ns/op).
func BenchmarkDecodeLine(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			d, err := NewDecoder(Options{Format: c.format})
			if err != nil {
				b.Fatal(err)
			}
			line := []byte(c.line)
			s := &countSink{}
			pos := ingest.FilePos("bench")
			b.SetBytes(int64(len(line) + 1))
			b.ReportAllocs()
			for b.Loop() {
				d.DecodeLine(line, pos, s)
			}
			if s.events == 0 || s.other != 0 {
				b.Fatalf("events=%d other=%d", s.events, s.other)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkDecodeStream measures Decode over a 10,000-line S3-style object
// (header + v2 records with varied addresses and ENIs), plain and gzip.
func BenchmarkDecodeStream(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(v2Header + "\n")
	const lines = 10000
	for i := range lines {
		sb.WriteString("2 123456789010 eni-0000000000000")
		sb.WriteString(string(rune('a' + i%16)))
		sb.WriteString(" 10.0.")
		sb.WriteString(itoa(i % 256))
		sb.WriteString(".")
		sb.WriteString(itoa(i % 200))
		sb.WriteString(" 52.95.")
		sb.WriteString(itoa(i % 97))
		sb.WriteString(".179 ")
		sb.WriteString(itoa(1024 + i))
		sb.WriteString(" 443 6 20 ")
		sb.WriteString(itoa(4000 + i))
		sb.WriteString(" 1418530010 1418530070 ACCEPT OK\n")
	}
	plain := []byte(sb.String())
	for _, c := range []struct {
		name string
		in   []byte
	}{{"plain", plain}, {"gzip", gz(b, sb.String())}} {
		b.Run(c.name, func(b *testing.B) {
			d, _ := NewDecoder(Options{})
			s := &countSink{}
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(bytes.NewReader(c.in), ingest.FilePos("bench"), s); err != nil {
					b.Fatal(err)
				}
			}
			if s.events != b.N*lines {
				b.Fatalf("events %d, want %d", s.events, b.N*lines)
			}
			b.ReportMetric(float64(b.N*lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
