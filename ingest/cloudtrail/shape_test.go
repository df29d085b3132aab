package cloudtrail

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

func decodeAll(t *testing.T, d *Decoder, in []byte) (*recSink, error) {
	t.Helper()
	s := &recSink{}
	err := d.Decode(bytes.NewReader(in), ingest.FilePos("in.json"), s)
	return s, err
}

func decodeMsg(t *testing.T, d *Decoder, in []byte) (*recSink, error) {
	t.Helper()
	s := &recSink{}
	err := d.DecodeMessage(in, ingest.FilePos("in.json"), s)
	return s, err
}

// TestShapes decodes every input shape and checks what reaches the sink. Each
// input also goes through DecodeMessage, and gzip and base64+gzip copies
// through Decode: all must give the same outcomes with the same positions.
func TestShapes(t *testing.T) {
	pretty := strings.ReplaceAll(records(recIAMUser, recS3), `,"`, ",\n    \"")
	tests := []struct {
		name  string
		in    string
		kinds string
		keys  []string // principal keys of the events, in order
	}{
		{"log file", records(recIAMUser, recS3, recConsole), "event event event",
			[]string{"arn:aws:iam::111122223333:user/anaya", "arn:aws:iam::111122223333:role/service/DataPipelineRole", "111122223333"}},
		{"log file pretty-printed", pretty, "event event", nil},
		{"log file other keys ignored", `{"foo":{"Records":1},"Records":[` + recIAMUser + `],"bar":[1,2,{"x":"]"}]}`, "event", nil},
		{"log file empty", `{"Records":[]}`, "", nil},
		{"log file with insight", records(recInsight, recIAMUser), "insight event", nil},
		{"single record", recIAMUser, "event", nil},
		{"single record surrounded by whitespace", "\n\n  " + recIAMUser + " \r\n", "event", nil},
		{"byte order mark", "\xef\xbb\xbf" + recIAMUser, "event", nil},
		{"ndjson", recIAMUser + "\n" + recS3 + "\n" + recConsole + "\n", "event event event", nil},
		{"ndjson crlf", recIAMUser + "\r\n" + recS3 + "\r\n", "event event", nil},
		{"concatenated", recIAMUser + recS3 + recConsole, "event event event", nil},
		{"top-level array", "[" + recIAMUser + "," + recS3 + "]", "event event", nil},
		{"eventbridge api call", eventBridge("AWS API Call via CloudTrail", recIAMUser), "event",
			[]string{"arn:aws:iam::111122223333:user/anaya"}},
		{"eventbridge console sign in", eventBridge("AWS Console Sign In via CloudTrail", recConsole), "event",
			[]string{"111122223333"}},
		{"eventbridge not cloudtrail", eventBridge("EC2 Instance State-change Notification", `{"instance-id":"i-1","state":"running"}`),
			"reject:unknown_shape", nil},
		{"eventbridge ndjson", eventBridge("AWS API Call via CloudTrail", recIAMUser) + "\n" + eventBridge("AWS API Call via CloudTrail", recS3), "event event", nil},
		{"cloudwatch logs data", cwlPayload(recIAMUser, recS3), "event event", nil},
		{"cloudwatch logs control", cwlControl, "skip:cwl_control", nil},
		{"lookup-events", lookupEvents(recIAMUser, recConsole), "event event", nil},
		{"lookup-events entry without record", `{"Events":[{"EventId":"x"}]}`, "reject:unknown_shape", nil},
		{"digest file", recDigest, "reject:cloudtrail_digest", nil},
		{"insight", recInsight, "insight", nil},
		{"unknown object", `{"hello":"world"}`, "reject:unknown_shape", nil},
		{"array of non-objects", `[1,"x"]`, "reject:malformed_json reject:malformed_json", nil},
		{"records element not an object", `{"Records":[1,` + recIAMUser + `]}`, "reject:malformed_json event", nil},
		{"ndjson resync after malformed line", recIAMUser + "\n" + `{"eventTime": nope}` + "\n" + recS3 + "\n", "event reject:malformed_json event", nil},
		{"ndjson garbage line", recIAMUser + "\nnot json at all\n" + recS3, "event reject:malformed_json event", nil},
		{"ndjson last line cut", recIAMUser + "\n" + recS3[:100], "event reject:malformed_json", nil},
		{"record without time", `{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}`, "reject:no_event_time", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Options{})
			got, err := decodeAll(t, d, []byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if g := got.kinds(); g != tc.kinds {
				t.Fatalf("Decode outcomes = %q, want %q\n%v", g, tc.kinds, got.out)
			}
			var keys []string
			for _, o := range got.out {
				if o.Kind == "event" {
					keys = append(keys, o.Event.Principal.Key)
				}
			}
			if tc.keys != nil && !reflect.DeepEqual(keys, tc.keys) {
				t.Errorf("keys = %q, want %q", keys, tc.keys)
			}
			for i, o := range got.out {
				if o.Pos.Index != int64(i) || o.Pos.Name != "in.json" {
					t.Errorf("outcome %d has position %+v", i, o.Pos)
				}
			}
			variants := map[string]func() (*recSink, error){
				"DecodeMessage":        func() (*recSink, error) { return decodeMsg(t, d, []byte(tc.in)) },
				"Decode gzip":          func() (*recSink, error) { return decodeAll(t, d, gzipBytes([]byte(tc.in))) },
				"Decode base64+gzip":   func() (*recSink, error) { return decodeAll(t, d, base64Gzip([]byte(tc.in))) },
				"DecodeMessage gzip":   func() (*recSink, error) { return decodeMsg(t, d, gzipBytes([]byte(tc.in))) },
				"DecodeMessage b64+gz": func() (*recSink, error) { return decodeMsg(t, d, base64Gzip([]byte(tc.in))) },
			}
			for name, run := range variants {
				again, err := run()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !reflect.DeepEqual(again.out, got.out) {
					t.Errorf("%s differs from Decode:\n got %v\nwant %v", name, again.out, got.out)
				}
			}
		})
	}
}

// TestPositions checks Offset, Line and Index for line-oriented input, log
// files and Kafka positions.
func TestPositions(t *testing.T) {
	d := NewDecoder(Options{})
	in := recIAMUser + "\n\n" + recS3 + recConsole + "\n"
	got, _ := decodeAll(t, d, []byte(in))
	want := []ingest.Position{
		{Name: "in.json", Partition: -1, Offset: 0, Line: 1, Index: 0},
		{Name: "in.json", Partition: -1, Offset: int64(len(recIAMUser) + 2), Line: 3, Index: 1},
		// Concatenated on the same line: not line-addressable.
		{Name: "in.json", Partition: -1, Offset: int64(len(recIAMUser) + 2 + len(recS3)), Line: 0, Index: 2},
	}
	for i, o := range got.out {
		if o.Pos != want[i] {
			t.Errorf("record %d at %+v, want %+v", i, o.Pos, want[i])
		}
	}

	file := records(recIAMUser, recS3)
	got, _ = decodeAll(t, d, []byte(file))
	for i, off := range []int{strings.Index(file, recIAMUser), strings.Index(file, recS3)} {
		if p := got.out[i].Pos; p.Offset != int64(off) || p.Line != 0 || p.Index != int64(i) {
			t.Errorf("log file record %d at %+v, want offset %d", i, p, off)
		}
	}

	kafka := ingest.Position{Name: "cloudtrail", Partition: 3, Offset: 9001}
	s := &recSink{}
	if err := d.DecodeMessage([]byte(cwlPayload(recIAMUser, recS3)), kafka, s); err != nil {
		t.Fatal(err)
	}
	for i, o := range s.out {
		if want := (ingest.Position{Name: "cloudtrail", Partition: 3, Offset: 9001, Index: int64(i)}); o.Pos != want {
			t.Errorf("kafka record %d at %+v, want %+v", i, o.Pos, want)
		}
	}
}

// TestCutStreams: a Records array cut off, broken, or a gzip stream cut short
// delivers what came before, reports the cut with its offset and returns an
// error; nothing panics.
func TestCutStreams(t *testing.T) {
	file := records(recIAMUser, recS3, recConsole)
	cutAt := strings.Index(file, recS3) + 200
	t.Run("records cut mid-record", func(t *testing.T) {
		got, err := decodeAll(t, NewDecoder(Options{}), []byte(file[:cutAt]))
		if !errors.Is(err, ErrTruncatedStream) {
			t.Fatalf("err = %v, want ErrTruncatedStream", err)
		}
		if got.kinds() != "event reject:truncated_json_stream" {
			t.Fatalf("outcomes %q", got.kinds())
		}
		r := got.out[1]
		if want := int64(strings.Index(file, recS3)); r.Pos.Offset != want || r.Pos.Index != 1 {
			t.Errorf("cut reported at %+v, want offset %d index 1", r.Pos, want)
		}
		if !strings.Contains(r.Detail, fmt.Sprintf("byte %d", cutAt)) {
			t.Errorf("detail %q does not name the end of input %d", r.Detail, cutAt)
		}
	})
	t.Run("records cut between records", func(t *testing.T) {
		cut := strings.Index(file, recS3) - 1 // after the comma
		got, err := decodeAll(t, NewDecoder(Options{}), []byte(file[:cut+1]))
		if !errors.Is(err, ErrTruncatedStream) || got.kinds() != "event reject:truncated_json_stream" {
			t.Fatalf("err %v, outcomes %q", err, got.kinds())
		}
	})
	t.Run("records array closed, object not", func(t *testing.T) {
		got, err := decodeAll(t, NewDecoder(Options{}), []byte(file[:len(file)-1]))
		if !errors.Is(err, ErrTruncatedStream) || got.kinds() != "event event event reject:truncated_json_stream" {
			t.Fatalf("err %v, outcomes %q", err, got.kinds())
		}
	})
	t.Run("records syntax error", func(t *testing.T) {
		bad := records(recIAMUser, `{"a":1 "b":2}`, recS3)
		got, err := decodeAll(t, NewDecoder(Options{}), []byte(bad))
		if !errors.Is(err, ErrMalformedStream) || got.kinds() != "event reject:malformed_json" {
			t.Fatalf("err %v, outcomes %q", err, got.kinds())
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		var big strings.Builder
		big.WriteString(`{"Records":[`)
		for i := range 2000 {
			if i > 0 {
				big.WriteByte(',')
			}
			big.WriteString(strings.Replace(recS3, "etl-job-7", fmt.Sprintf("etl-job-%d", i), 2))
		}
		big.WriteString("]}")
		gz := gzipBytes([]byte(big.String()))
		for _, cut := range []int{len(gz) / 2, len(gz) - 4, 20} {
			got, err := decodeAll(t, NewDecoder(Options{}), gz[:cut])
			if !errors.Is(err, ingest.ErrCorruptCompression) {
				t.Fatalf("cut %d: err = %v, want ErrCorruptCompression", cut, err)
			}
			if !strings.Contains(err.Error(), "at byte") {
				t.Errorf("error %q does not give the offset", err)
			}
			for i, o := range got.out {
				if o.Kind != "event" || o.Pos.Index != int64(i) {
					t.Fatalf("cut %d: outcome %d is %v", cut, i, o)
				}
			}
			if cut == len(gz)/2 && (len(got.out) < 100 || len(got.out) >= 2000) {
				t.Errorf("cut %d: %d records before the cut", cut, len(got.out))
			}
		}
	})
	t.Run("truncated gzip message", func(t *testing.T) {
		gz := gzipBytes([]byte(cwlPayload(recIAMUser)))
		s := &recSink{}
		err := NewDecoder(Options{}).DecodeMessage(gz[:len(gz)-6], ingest.FilePos("m"), s)
		if !errors.Is(err, ingest.ErrCorruptCompression) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRecordTooLarge(t *testing.T) {
	d := NewDecoder(Options{MaxRecordBytes: max(len(recIAMUser), len(recConsole)) + 10})
	got, err := decodeAll(t, d, []byte(records(recIAMUser, recS3, recConsole)))
	if err != nil || got.kinds() != "event reject:record_too_large event" {
		t.Fatalf("err %v, outcomes %q", err, got.kinds())
	}
	got, err = decodeAll(t, d, []byte(recS3+"\n"+recIAMUser+"\n"))
	if err != nil || got.kinds() != "reject:record_too_large event" {
		t.Fatalf("ndjson: err %v, outcomes %q", err, got.kinds())
	}
	s := &recSink{}
	d.DecodeRecord([]byte(recS3), ingest.FilePos("x"), s)
	if s.kinds() != "reject:record_too_large" {
		t.Fatalf("DecodeRecord: %q", s.kinds())
	}
}

func TestSniff(t *testing.T) {
	yes := []string{
		records(recIAMUser), recIAMUser, "\n" + recIAMUser, "[" + recIAMUser + "]",
		eventBridge("AWS API Call via CloudTrail", recIAMUser), cwlPayload(recIAMUser), cwlControl,
		lookupEvents(recIAMUser), recDigest, recInsight,
		records(recS3)[:40], // a head cut anywhere
	}
	no := []string{
		"", "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n",
		`{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"vpc-flow","logStream":"eni-1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1 2 ACCEPT OK"}]}`,
		`{"srcAddr":"10.0.0.1","dstAddr":"10.0.0.2"}`,
	}
	for _, s := range yes {
		if !Sniff([]byte(s)) {
			t.Errorf("Sniff(%.60q) = false", s)
		}
	}
	for _, s := range no {
		if Sniff([]byte(s)) {
			t.Errorf("Sniff(%.60q) = true", s)
		}
	}
}
