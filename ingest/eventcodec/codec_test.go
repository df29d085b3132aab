package eventcodec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden (only for a deliberate new format version)")

// typicalEvent is a CloudTrail S3 GetObject by an assumed role, the shape that
// dominates real traffic.
func typicalEvent() ingest.Event {
	return ingest.Event{
		Time:   time.Date(2024, 3, 14, 9, 26, 53, 0, time.UTC),
		Source: ingest.SourceCloudTrail,
		Principal: ingest.Principal{
			Key:         "arn:aws:iam::123456789012:role/DataPipelineRole",
			Type:        ingest.PrincipalAssumedRole,
			Account:     "123456789012",
			SubKey:      "etl-nightly-4f2a",
			AccessKeyID: "ASIAEXAMPLE7QDLMXV2Z",
		},
		Action:      "s3.amazonaws.com:GetObject",
		Region:      "eu-west-1",
		SourceIP:    netip.MustParseAddr("203.0.113.24"),
		EventID:     "6b2a1c8e-3f1d-4c2e-9a7b-0d5e8f4c1a23",
		EgressBytes: 1048576,
		Pos: ingest.Position{
			Name:      "raw-cloudtrail",
			Partition: 7,
			Offset:    184467,
			Index:     12,
		},
	}
}

func roundTrip(t *testing.T, ev ingest.Event) {
	t.Helper()
	b := Append(nil, &ev)
	var got ingest.Event
	if err := Decode(b, &got); err != nil {
		t.Fatalf("Decode(Append(%+v)): %v", ev, err)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Fatalf("round trip mismatch\n got %+v\nwant %+v", got, ev)
	}
	var in Interner
	got = ingest.Event{}
	if err := DecodeInterned(b, &got, in.Intern); err != nil {
		t.Fatalf("DecodeInterned: %v", err)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Fatalf("interned round trip mismatch\n got %+v\nwant %+v", got, ev)
	}
}

func TestRoundTrip(t *testing.T) {
	full := typicalEvent()
	full.ErrorCode = "AccessDenied"
	full.PeerAddr = netip.MustParseAddr("2001:db8::1")
	full.PeerPort = 443
	full.Protocol = 6
	full.Pos.Line = 99

	tests := []struct {
		name string
		mod  func(ev *ingest.Event)
	}{
		{"typical", func(ev *ingest.Event) {}},
		{"zero event", func(ev *ingest.Event) { *ev = ingest.Event{} }},
		{"every field", func(ev *ingest.Event) { *ev = full }},
		{"ipv6 source", func(ev *ingest.Event) { ev.SourceIP = netip.MustParseAddr("2001:db8:85a3::8a2e:370:7334") }},
		{"ipv4-mapped ipv6", func(ev *ingest.Event) { ev.SourceIP = netip.MustParseAddr("::ffff:192.0.2.1") }},
		{"ipv6 with zone", func(ev *ingest.Event) { ev.PeerAddr = netip.MustParseAddr("fe80::1%eth0") }},
		{"zero addrs", func(ev *ingest.Event) { ev.SourceIP, ev.PeerAddr = netip.Addr{}, netip.Addr{} }},
		{"unspecified addrs", func(ev *ingest.Event) { ev.SourceIP, ev.PeerAddr = netip.IPv4Unspecified(), netip.IPv6Unspecified() }},
		{"empty strings", func(ev *ingest.Event) {
			ev.Principal = ingest.Principal{Type: ev.Principal.Type}
			ev.Action, ev.ErrorCode, ev.Region, ev.EventID, ev.Pos.Name = "", "", "", "", ""
		}},
		{"binary strings", func(ev *ingest.Event) { ev.Action = "\x00\xff\xfe"; ev.EventID = strings.Repeat("x", 1000) }},
		{"vpc flow", func(ev *ingest.Event) {
			*ev = ingest.Event{
				Time: time.Unix(1700000000, 0).UTC(), Source: ingest.SourceVPCFlow,
				Principal: ingest.Principal{Key: "i-0abc123", Type: ingest.PrincipalInstance, Account: "123456789012"},
				SourceIP:  netip.MustParseAddr("10.0.1.5"), PeerAddr: netip.MustParseAddr("198.51.100.7"),
				PeerPort: 65535, Protocol: 255, EgressBytes: 5000,
				Pos: ingest.Position{Name: "s3://bucket/flow.log.gz", Partition: -1, Offset: 4096, Line: 3, Index: 2},
			}
		}},
		{"max values", func(ev *ingest.Event) {
			ev.EgressBytes = math.MaxUint64
			ev.PeerPort = math.MaxUint16
			ev.Protocol = math.MaxUint8
			ev.Source, ev.Principal.Type = 255, 255
			ev.Pos = ingest.Position{Name: "t", Partition: math.MaxInt32, Offset: math.MaxInt64, Line: math.MaxInt64, Index: math.MaxInt64}
		}},
		{"min values", func(ev *ingest.Event) {
			ev.Pos = ingest.Position{Partition: math.MinInt32, Offset: math.MinInt64, Line: math.MinInt64, Index: math.MinInt64}
		}},
		{"unix epoch", func(ev *ingest.Event) { ev.Time = time.Unix(0, 0).UTC() }},
		{"negative time", func(ev *ingest.Event) { ev.Time = time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC) }},
		{"nanosecond precision", func(ev *ingest.Event) { ev.Time = time.Unix(1710408413, 999999999).UTC() }},
		{"min UnixNano", func(ev *ingest.Event) { ev.Time = time.Unix(0, math.MinInt64).UTC() }},
		{"max UnixNano", func(ev *ingest.Event) { ev.Time = time.Unix(0, math.MaxInt64).UTC() }},
		{"year 1 nonzero", func(ev *ingest.Event) { ev.Time = time.Time{}.Add(time.Nanosecond) }},
		{"far future", func(ev *ingest.Event) { ev.Time = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) }},
		{"far past", func(ev *ingest.Event) { ev.Time = time.Date(-5000, 1, 1, 0, 0, 0, 1, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := typicalEvent()
			tt.mod(&ev)
			roundTrip(t, ev)
		})
	}
}

// A non-UTC or monotonic time keeps its instant; the location is not encoded.
func TestTimeLocationDropped(t *testing.T) {
	ev := typicalEvent()
	ev.Time = time.Now().In(time.FixedZone("X", 3600))
	var got ingest.Event
	if err := Decode(Append(nil, &ev), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(ev.Time) || got.Time.Location() != time.UTC {
		t.Fatalf("time %v, want instant %v in UTC", got.Time, ev.Time)
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	ev := typicalEvent()
	b := Append(nil, &ev)
	var got, got2 ingest.Event
	if err := Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	var in Interner
	if err := DecodeInterned(b, &got2, in.Intern); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'Z'
	}
	if !reflect.DeepEqual(got, ev) || !reflect.DeepEqual(got2, ev) {
		t.Fatalf("decoded event changed when its input was overwritten")
	}
}

func TestGolden(t *testing.T) {
	ev := typicalEvent()
	ev.ErrorCode = "AccessDenied"
	ev.PeerAddr = netip.MustParseAddr("fe80::1%eth0")
	ev.PeerPort = 443
	ev.Protocol = 6
	got := hex.Dump(Append(nil, &ev))
	path := filepath.Join("testdata", "event_v1.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("version 1 wire format changed; a layout change needs a new version, not -update\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestTruncated(t *testing.T) {
	full := typicalEvent()
	full.PeerAddr = netip.MustParseAddr("fe80::1%eth0")
	full.ErrorCode = "AccessDenied"
	for _, ev := range []ingest.Event{typicalEvent(), full, {}} {
		b := Append(nil, &ev)
		for n := 0; n < len(b); n++ {
			var got ingest.Event
			err := Decode(b[:n:n], &got)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode of %d/%d bytes: %v, want ErrCorrupt", n, len(b), err)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	ev := typicalEvent()
	good := Append(nil, &ev)
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// Offsets in the typical encoding: 0 version, 1 time kind, 2.. time varint.
	timeLen := len(Append(nil, &ingest.Event{Time: ev.Time})) - len(Append(nil, &ingest.Event{}))
	afterTime := 2 + timeLen // source byte
	keyLen := afterTime + 2  // length of Principal.Key
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"version 0", with(func(b []byte) []byte { b[0] = 0; return b }), ErrVersion},
		{"version 2", with(func(b []byte) []byte { b[0] = 2; return b }), ErrVersion},
		{"version 255", []byte{255}, ErrVersion},
		{"empty", nil, ErrCorrupt},
		{"trailing byte", append(bytes.Clone(good), 0), ErrCorrupt},
		{"unknown time kind", with(func(b []byte) []byte { b[1] = 3; return b }), ErrCorrupt},
		{"huge string length", with(func(b []byte) []byte {
			return append(b[:keyLen:keyLen], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
		}), ErrCorrupt},
		{"string longer than record", with(func(b []byte) []byte { b[keyLen] = 0x7f; return b[:keyLen+10] }), ErrCorrupt},
		{"varint overflow", []byte{1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, ErrCorrupt},
		{"time nanoseconds out of range", []byte{1, 2, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, ErrCorrupt},
		{"unknown addr tag", rec(func(b []byte) []byte { return append(b, 5) }), ErrCorrupt},
		{"empty zone", rec(func(b []byte) []byte { return append(append(append(b, 17), make([]byte, 16)...), 0) }), ErrCorrupt},
		{"peer port out of range", recAfterAddr(func(b []byte) []byte { return append(b, 0x80, 0x80, 0x04) }), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got ingest.Event
			err := Decode(tt.b, &got)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%x) = %v, want %v", tt.b, err, tt.want)
			}
			if tt.want == ErrVersion && errors.Is(err, ErrCorrupt) {
				t.Fatalf("version error also matches ErrCorrupt: %v", err)
			}
		})
	}
}

// rec returns the bytes of a zero event up to its SourceIP, passed through f.
func rec(f func([]byte) []byte) []byte {
	// version, time kind, source, ptype, 7 empty strings.
	return f([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
}

// recAfterAddr returns the bytes of a zero event up to its PeerPort, passed through f.
func recAfterAddr(f func([]byte) []byte) []byte {
	// ... SourceIP none, EventID empty, egress 0, PeerAddr none.
	return rec(func(b []byte) []byte { return f(append(b, 0, 0, 0, 0)) })
}

func TestSizeVsJSON(t *testing.T) {
	ev := typicalEvent()
	bin := Append(nil, &ev)
	js, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("typical CloudTrail event: binary %d bytes, JSON %d bytes (%.0f%%)", len(bin), len(js), 100*float64(len(bin))/float64(len(js)))
	if len(bin)*2 > len(js) {
		t.Errorf("binary %d bytes is not under half the JSON %d bytes", len(bin), len(js))
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	ev := typicalEvent()
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], &ev) }); n != 0 {
		t.Fatalf("Append allocated %v times per call", n)
	}
}

func TestInternerBounded(t *testing.T) {
	in := Interner{Max: 3}
	a := in.Intern([]byte("a"))
	if a2 := in.Intern([]byte("a")); a2 != a {
		t.Fatal("intern mismatch")
	}
	for _, s := range []string{"b", "c", "d", "e"} {
		if got := in.Intern([]byte(s)); got != s {
			t.Fatalf("Intern(%q) = %q", s, got)
		}
		if len(in.m) > in.Max {
			t.Fatalf("interner holds %d strings, max %d", len(in.m), in.Max)
		}
	}
}
