package cloudtrail

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/valyala/fastjson"
)

// ctRecord is the small struct the reflection-based parsers fill: the same
// fields extract reads.
type ctRecord struct {
	EventTime          string `json:"eventTime"`
	EventSource        string `json:"eventSource"`
	EventName          string `json:"eventName"`
	ErrorCode          string `json:"errorCode"`
	AWSRegion          string `json:"awsRegion"`
	SourceIPAddress    string `json:"sourceIPAddress"`
	EventID            string `json:"eventID"`
	EventType          string `json:"eventType"`
	RecipientAccountID string `json:"recipientAccountId"`
	UserIdentity       *struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
		ARN         string `json:"arn"`
		AccountID   string `json:"accountId"`
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
		InvokedBy   string `json:"invokedBy"`
		OnBehalfOf  *struct {
			UserID string `json:"userId"`
		} `json:"onBehalfOf"`
		SessionContext *struct {
			SourceIdentity string `json:"sourceIdentity"`
			SessionIssuer  *struct {
				ARN string `json:"arn"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	AdditionalEventData *struct {
		UserName            string             `json:"UserName"`
		BytesTransferredOut stdjson.RawMessage `json:"bytesTransferredOut"`
	} `json:"additionalEventData"`
	InsightDetails *struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
	} `json:"insightDetails"`
}

// BenchmarkRecord compares extracting the decoder's fields from the same
// ~1.6 KiB S3 data event with each candidate parser. fastjson (reused Parser,
// one pass over the keys) is what the decoder uses.
func BenchmarkRecord(b *testing.B) {
	rec := []byte(recS3)
	b.Run("fastjson", func(b *testing.B) {
		var p fastjson.Parser
		var f fields
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for b.Loop() {
			v, err := p.ParseBytes(rec)
			if err != nil {
				b.Fatal(err)
			}
			extract(v, &f)
		}
		if string(f.issuerARN) == "" || f.bytesOut == 0 {
			b.Fatal("fields not extracted")
		}
	})
	b.Run("gojson", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for b.Loop() {
			var r ctRecord
			if err := gojson.Unmarshal(rec, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encodingjson", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for b.Loop() {
			var r ctRecord
			if err := stdjson.Unmarshal(rec, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type nopSink struct{ events, other int }

func (s *nopSink) Event(*ingest.Event)                 { s.events++ }
func (s *nopSink) Insight(*ingest.Event, []byte)       { s.other++ }
func (s *nopSink) Reject(*ingest.Reject)               { s.other++ }
func (s *nopSink) Skip(ingest.Reason, ingest.Position) { s.other++ }

// BenchmarkDecodeRecord is the whole per-record path: parse, extract,
// resolve the principal, intern, build the Event.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := []byte(recS3)
	d := NewDecoder(Options{})
	s := &nopSink{}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		d.DecodeRecord(rec, ingest.FilePos("b"), s)
	}
	if s.events == 0 || s.other != 0 {
		b.Fatal("record not decoded")
	}
}

// genRecords writes a {"Records":[...]} log file of about size bytes: recS3
// and recIAMUser with varying session names and ids, like a busy trail.
func genRecords(w io.Writer, size int) (n int, maxRec int) {
	written, _ := io.WriteString(w, `{"Records":[`)
	for i := 0; written < size; i++ {
		sep := ","
		if i == 0 {
			sep = ""
		}
		var r string
		if i%3 == 2 {
			r = strings.Replace(recIAMUser, "555555555551", fmt.Sprintf("%012d", i), 1)
		} else {
			r = strings.Replace(recS3, "etl-job-7", fmt.Sprintf("etl-job-%d", i%50), 2)
			r = strings.Replace(r, "5f4a3b2c1d0e", fmt.Sprintf("%012d", i), 1)
		}
		maxRec = max(maxRec, len(r))
		k, _ := io.WriteString(w, sep+r)
		written += k
		n++
	}
	k, _ := io.WriteString(w, `],"extra":true}`)
	_ = written + k
	return n, maxRec
}

// BenchmarkDecodeRecordsFile streams a multi-MB log file through Decode.
func BenchmarkDecodeRecordsFile(b *testing.B) {
	var plain bytes.Buffer
	n, _ := genRecords(&plain, 8<<20)
	gz := gzipBytes(plain.Bytes())
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"plain", plain.Bytes()}, {"gzip", gz}} {
		b.Run(tc.name, func(b *testing.B) {
			d := NewDecoder(Options{})
			b.SetBytes(int64(plain.Len())) // decompressed bytes, so both read alike
			b.ReportAllocs()
			for b.Loop() {
				s := &nopSink{}
				if err := d.Decode(bytes.NewReader(tc.in), ingest.FilePos("b"), s); err != nil {
					b.Fatal(err)
				}
				if s.events != n {
					b.Fatalf("%d events, want %d", s.events, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// BenchmarkDecodeMessage is the Kafka path for one plain record and for a
// gzip CloudWatch Logs payload of 50 records.
func BenchmarkDecodeMessage(b *testing.B) {
	recs := make([]string, 50)
	for i := range recs {
		recs[i] = recS3
	}
	for _, tc := range []struct {
		name string
		in   []byte
		n    int
	}{{"record", []byte(recS3), 1}, {"cwl-gzip-50", gzipBytes([]byte(cwlPayload(recs...))), 50}} {
		b.Run(tc.name, func(b *testing.B) {
			d := NewDecoder(Options{})
			b.SetBytes(int64(len(tc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.DecodeMessage(tc.in, ingest.Position{Name: "t", Partition: 0}, &nopSink{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.n), "ns/record")
		})
	}
}
