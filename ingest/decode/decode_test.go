package decode

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

type rec struct{ out []string }

func (r *rec) Event(ev *ingest.Event) {
	r.out = append(r.out, fmt.Sprintf("event %s %s %s egress=%d", ev.Source, ev.Principal.Key, ev.Action, ev.EgressBytes))
}
func (r *rec) Insight(ev *ingest.Event, _ []byte) { r.out = append(r.out, "insight "+ev.Action) }
func (r *rec) Reject(x *ingest.Reject)            { r.out = append(r.out, "reject "+string(x.Reason)) }
func (r *rec) Skip(reason ingest.Reason, _ ingest.Position) {
	r.out = append(r.out, "skip "+string(reason))
}

const record = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAX"},"eventTime":"2025-03-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","eventID":"e1","additionalEventData":{"bytesTransferredOut":1234}}`

const flowHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
const flowLine = "2 111122223333 eni-0a1 10.0.0.5 198.51.100.7 49152 443 6 10 5000 1700000000 1700000060 ACCEPT OK"

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func cwl(messages ...string) string {
	var evs []string
	for i, m := range messages {
		q := strings.ReplaceAll(strings.ReplaceAll(m, `\`, `\\`), `"`, `\"`)
		evs = append(evs, fmt.Sprintf(`{"id":"%d","timestamp":1700000000000,"message":"%s"}`, i, q))
	}
	return `{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[` + strings.Join(evs, ",") + `]}`
}

var ctEvent = "event cloudtrail arn:aws:iam::111122223333:user/alice s3.amazonaws.com:GetObject egress=1234"
var flowEvent = "event vpcflow eni-0a1  egress=5000"

func TestAutoDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"records file gzip", gz(`{"Records":[` + record + `,` + record + `]}`), []string{ctEvent, ctEvent}},
		{"ndjson", []byte(record + "\n" + record + "\n"), []string{ctEvent, ctEvent}},
		{"eventbridge", []byte(`{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"111122223333","time":"2025-03-01T10:00:00Z","region":"us-east-1","resources":[],"detail":` + record + `}`), []string{ctEvent}},
		{"cwl cloudtrail gzip", gz(cwl(record, record)), []string{ctEvent, ctEvent}},
		{"cwl flow lines base64 gzip", []byte(base64.StdEncoding.EncodeToString(gz(cwl(flowLine, flowLine)))), []string{flowEvent, flowEvent}},
		{"cwl control", gz(`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`), []string{"skip cwl_control"}},
		{"flow file with header gzip", gz(flowHeader + "\n" + flowLine + "\n"), []string{"skip flow_header", flowEvent}},
		{"flow lines without header", []byte(flowLine + "\n"), []string{flowEvent}},
		{"unknown text", []byte("hello, this is not a log\n"), []string{"reject unknown_format"}},
		{"empty", []byte("\n\n"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			var r rec
			if err := d.Decode(bytes.NewReader(tc.in), ingest.FilePos("x"), &r); err != nil {
				t.Fatal(err)
			}
			if strings.Join(r.out, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("Decode got\n%s\nwant\n%s", strings.Join(r.out, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.name == "empty" {
				return
			}
			var m rec
			if err := d.DecodeMessage(tc.in, ingest.Position{Name: "topic", Partition: 0, Offset: 5}, &m); err != nil {
				t.Fatal(err)
			}
			if strings.Join(m.out, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("DecodeMessage got\n%s\nwant\n%s", strings.Join(m.out, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestForcedFormat(t *testing.T) {
	d, err := New(Options{Format: FormatVPCFlow})
	if err != nil {
		t.Fatal(err)
	}
	var r rec
	d.Decode(strings.NewReader(record+"\n"), ingest.FilePos("x"), &r)
	if len(r.out) != 1 || !strings.HasPrefix(r.out[0], "reject") {
		t.Fatalf("CloudTrail forced through the flow decoder: %v", r.out)
	}
	if _, err := New(Options{Format: "csv"}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestCorruptGzipIsAnError(t *testing.T) {
	z := gz(strings.Repeat(record+"\n", 500))
	d, _ := New(Options{})
	var r rec
	err := d.Decode(bytes.NewReader(z[:len(z)/2]), ingest.FilePos("cut.json.gz"), &r)
	if err == nil || ReasonOf(err) != ingest.ReasonCorruptCompression {
		t.Fatalf("err = %v (reason %s)", err, ReasonOf(err))
	}
	if len(r.out) == 0 {
		t.Fatal("records before the cut were not delivered")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{record, flowLine, flowHeader + "\n" + flowLine, cwl(record), cwl(flowLine), `{"Records":[` + record + `]}`} {
		f.Add([]byte(s))
		f.Add(gz(s))
	}
	d, _ := New(Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r rec
		d.DecodeMessage(b, ingest.Position{Name: "t", Partition: 0}, &r)
		d.Decode(bytes.NewReader(b), ingest.FilePos("f"), &r)
	})
}

// BenchmarkDecodeMessage: one Kafka message of each kind, as serve decodes them.
func BenchmarkDecodeMessage(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{{"cloudtrail", record}, {"flowline", flowLine}} {
		b.Run(bc.name, func(b *testing.B) {
			d, _ := New(Options{})
			var r countSink
			msg := []byte(bc.msg)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				d.DecodeMessage(msg, ingest.Position{Name: "t", Partition: 0, Offset: int64(i)}, &r)
			}
			if r.events != b.N {
				b.Fatalf("%d events for %d messages", r.events, b.N)
			}
		})
	}
}

type countSink struct{ events int }

func (c *countSink) Event(*ingest.Event)                 { c.events++ }
func (c *countSink) Insight(*ingest.Event, []byte)       {}
func (c *countSink) Reject(*ingest.Reject)               {}
func (c *countSink) Skip(ingest.Reason, ingest.Position) {}
