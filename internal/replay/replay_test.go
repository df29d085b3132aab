package replay

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest/deadletter"
)

const corpus = "../../testdata/corpus"

func defaultDetect() detect.Config { return detect.Defaults() }

func run(t *testing.T, opts Options) (*Summary, string) {
	t.Helper()
	var out bytes.Buffer
	opts.Out = &out
	if opts.Detect.Window == 0 {
		opts.Detect = defaultDetect()
	}
	sum, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum, out.String()
}

// ctRecord is a minimal valid CloudTrail record.
func ctRecord(i int, user, t string) string {
	return fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA%d","arn":"arn:aws:iam::111122223333:user/%s","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE%d","userName":"%s"},"eventTime":"%s","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.%d","eventID":"ev-%d","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`,
		i, user, i, user, t, i%250, i)
}

func gzBytes(body []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(body)
	zw.Close()
	return b.Bytes()
}

func writeGz(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gzBytes(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordsFile builds a CloudTrail log file with n records for user starting at t0, one every step.
func recordsFile(n int, user string, t0 time.Time, step time.Duration, base int) []byte {
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ctRecord(base+i, user, t0.Add(time.Duration(i)*step).UTC().Format(time.RFC3339)))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestReplayCorruptFileIsReportedAndReplayGoesOn(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	writeGz(t, filepath.Join(dir, "a.json.gz"), recordsFile(50, "alice", t0, time.Second, 0))
	// b: a gzip cut in half.
	var full bytes.Buffer
	zw := gzip.NewWriter(&full)
	zw.Write(recordsFile(2000, "bob", t0, time.Second, 1000))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "b.json.gz"), full.Bytes()[:full.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	writeGz(t, filepath.Join(dir, "c.json.gz"), recordsFile(30, "carol", t0, time.Second, 5000))
	dl := filepath.Join(dir, "dead.jsonl")
	sumPath := filepath.Join(dir, "summary.json")
	sum, _ := run(t, Options{Inputs: []string{dir}, DeadLetter: dl, SummaryJSON: sumPath, Parallelism: 3})
	if sum.Inputs != 3 || sum.InputErrors != 1 {
		t.Fatalf("inputs %d, input errors %d; want 3, 1", sum.Inputs, sum.InputErrors)
	}
	if sum.Rejected["corrupt_compression"] != 1 {
		t.Errorf("rejected = %v, want corrupt_compression 1", sum.Rejected)
	}
	// All of a and c, and what b held before the cut.
	if sum.Decoded < 80 || sum.Decoded >= 2080 {
		t.Errorf("decoded %d", sum.Decoded)
	}
	f, err := os.Open(dl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := deadletter.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range sum.Rejected {
		total += n
	}
	if int64(len(recs)) != total {
		t.Fatalf("dead letters %d, rejected %d: every rejection must be kept", len(recs), total)
	}
	found := false
	for _, r := range recs {
		if r.Reason == "corrupt_compression" && strings.HasSuffix(r.Name, "b.json.gz") && r.Offset > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no dead letter names the corrupt file: %+v", recs)
	}
	var js map[string]any
	b, err := os.ReadFile(sumPath)
	if err != nil || json.Unmarshal(b, &js) != nil {
		t.Fatalf("summary json: %v %s", err, b)
	}
	for _, k := range []string{"records", "decoded", "rejected", "principals", "alerts", "seconds"} {
		if _, ok := js[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
}

func TestReplayCorpusEveryRecordAccountedFor(t *testing.T) {
	dir := t.TempDir()
	dl := filepath.Join(dir, "dead.jsonl")
	inputs := []string{
		corpus + "/vpcflow/awsdocs",
		corpus + "/scenarios/panther-compromised-root",
	}
	sum, _ := run(t, Options{Inputs: inputs, DeadLetter: dl, Parallelism: 2})
	if sum.Decoded == 0 {
		t.Fatal("nothing decoded")
	}
	if sum.Records != sum.Decoded+sum.Insights+sum.TotalRejected()-sum.Rejected["late_event"]-int64(sum.InputErrors)+skippedRecords(sum) {
		t.Errorf("records %d != decoded %d + insights %d + rejected %d + skipped records",
			sum.Records, sum.Decoded, sum.Insights, sum.TotalRejected())
	}
	b, _ := os.ReadFile(dl)
	if n := int64(bytes.Count(b, []byte("\n"))); n != sum.TotalRejected() {
		t.Errorf("dead letters %d, rejected %d", n, sum.TotalRejected())
	}
}

func skippedRecords(s *Summary) int64 {
	return s.Skipped["flow_nodata"] + s.Skipped["flow_skipdata"] + s.Skipped["flow_excluded_peer"]
}

func TestReplayStdin(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	body := recordsFile(20, "dave", t0, time.Second, 0)
	sum, _ := run(t, Options{Inputs: []string{"-"}, Stdin: bytes.NewReader(body)})
	if sum.Decoded != 20 || sum.Principals != 1 {
		t.Fatalf("decoded %d principals %d", sum.Decoded, sum.Principals)
	}
}
