package ingest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestDecompress(t *testing.T) {
	body := []byte(strings.Repeat(`{"Records":[]}`+"\n", 100))
	multi := append(gz(body[:700]), gz(body[700:])...)
	b64 := []byte(base64.StdEncoding.EncodeToString(gz(body)))
	wrapped := []byte(strings.Join(chunks(string(b64), 76), "\n") + "\n")
	for _, tc := range []struct {
		name, enc string
		in        []byte
	}{
		{"plain", EncodingPlain, body},
		{"gzip", EncodingGzip, gz(body)},
		{"multi-member gzip", EncodingGzip, multi},
		{"base64 gzip", EncodingB64Gz, b64},
		{"wrapped base64 gzip", EncodingB64Gz, wrapped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, enc, err := Decompress(bytes.NewReader(tc.in))
			if err != nil || enc != tc.enc {
				t.Fatalf("enc %q err %v", enc, err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("content differs (err %v)", err)
			}
			got, enc2, err := DecompressBytes(tc.in)
			if err != nil || enc2 != tc.enc || !bytes.Equal(got, body) {
				t.Fatalf("DecompressBytes: enc %q err %v", enc2, err)
			}
		})
	}
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestDecompressTruncatedIsCorrupt(t *testing.T) {
	z := gz(bytes.Repeat([]byte("abcdefgh"), 10000))
	r, _, err := Decompress(bytes.NewReader(z[:len(z)/2]))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrCorruptCompression) {
		t.Fatalf("err = %v, want ErrCorruptCompression", err)
	}
	_, _, err = DecompressBytes(z[:5])
	if !errors.Is(err, ErrCorruptCompression) {
		t.Fatalf("short header: err = %v", err)
	}
}

type failingReader struct{ r io.Reader }

var errDisk = errors.New("disk on fire")

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errDisk
	}
	return n, err
}

func TestDecompressReadErrorIsNotCorruption(t *testing.T) {
	z := gz(bytes.Repeat([]byte("abcdefgh"), 10000))
	r, _, err := Decompress(&failingReader{bytes.NewReader(z[:len(z)/2])})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, errDisk) || errors.Is(err, ErrCorruptCompression) {
		t.Fatalf("err = %v: a read error must stay a read error", err)
	}
}

func TestParseCWL(t *testing.T) {
	data := `{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"CloudTrail/logs","logStream":"111122223333_CloudTrail_us-east-1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"{\"eventVersion\":\"1.08\"}"},{"id":"2","timestamp":2,"message":"2 1 eni-1 - - - - - - - 1 2 - NODATA"}]}`
	if !LooksLikeCWL([]byte(data)) {
		t.Fatal("not recognised")
	}
	env, err := ParseCWL([]byte(data))
	if err != nil || len(env.LogEvents) != 2 || env.LogEvents[0].Message != `{"eventVersion":"1.08"}` {
		t.Fatalf("env %+v err %v", env, err)
	}
	for _, bad := range []string{`{"messageType":"OTHER","logEvents":[]}`, `{"messageType":`, `[]`} {
		if _, err := ParseCWL([]byte(bad)); !errors.Is(err, ErrNotCWL) {
			t.Errorf("ParseCWL(%s) err = %v", bad, err)
		}
	}
	if LooksLikeCWL([]byte(`{"Records":[]}`)) {
		t.Error("Records file taken for CWL")
	}
}

func TestPositionString(t *testing.T) {
	for _, tc := range []struct {
		p    Position
		want string
	}{
		{Position{Name: "a.log", Partition: -1, Line: 7}, "a.log:7"},
		{Position{Name: "a.json.gz", Partition: -1, Offset: 120, Index: 3}, "a.json.gz@120#3"},
		{Position{Name: "ct", Partition: 2, Offset: 99}, "ct/2@99"},
		{Position{Name: "ct", Partition: 2, Offset: 99, Index: 4}, "ct/2@99#4"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestPrincipalTypeRoundTrip(t *testing.T) {
	for pt := PrincipalUnknown; pt < numPrincipalTypes; pt++ {
		if got := ParsePrincipalType(pt.String()); got != pt {
			t.Errorf("%v -> %q -> %v", pt, pt.String(), got)
		}
	}
	if ParsePrincipalType("Martian") != PrincipalUnknown {
		t.Error("unknown type not Unknown")
	}
}

// FuzzDecompressBytes: no panic, and plain input comes back unchanged.
func FuzzDecompressBytes(f *testing.F) {
	f.Add([]byte(`{"Records":[]}`))
	f.Add(gz([]byte(`{"Records":[]}`)))
	f.Add([]byte("H4sIAAAAAAAA/wMAAAAAAAAAAAA="))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, enc, err := DecompressBytes(b)
		if enc == EncodingPlain && err == nil && !bytes.Equal(out, b) {
			t.Fatal("plain input changed")
		}
	})
}

// FuzzParseCWL: no panic; a parsed envelope re-parses identically.
func FuzzParseCWL(f *testing.F) {
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":1,"message":"m"}]}`))
	f.Add([]byte(`{"messageType":"CONTROL_MESSAGE","logEvents":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseCWL(b)
		if err != nil {
			return
		}
		if env.MessageType != CWLDataMessage && env.MessageType != CWLControlMessage {
			t.Fatalf("accepted messageType %q", env.MessageType)
		}
	})
}
