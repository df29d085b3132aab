package replay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest/source"
	"github.com/trailwatch/trailwatch/internal/testutil"
)

// TestReplayFromS3 replays CloudTrail log files from an S3 bucket (gofakes3,
// real SDK client) laid out the way CloudTrail writes them, and checks that
// --from/--to select exactly the files delivered in range.
func TestReplayFromS3(t *testing.T) {
	c := testutil.NewFakeS3(t)
	var keys []string
	bodies := map[string][]byte{}
	for day := 1; day <= 4; day++ {
		for _, hm := range []string{"0100", "1300"} {
			d := time.Date(2025, 3, day, 0, 0, 0, 0, time.UTC)
			ts, _ := time.Parse("20060102T1504", d.Format("20060102")+"T"+hm)
			key := "AWSLogs/111122223333/CloudTrail/us-east-1/" + d.Format("2006/01/02") +
				"/111122223333_CloudTrail_us-east-1_" + ts.Format("20060102T1504Z") + "_u.json.gz"
			keys = append(keys, key)
			bodies[key] = gzBytes(recordsFile(10, "user"+hm, ts.Add(-10*time.Minute), time.Second, day*100))
		}
	}
	testutil.PutObjects(t, c, "trail", keys, func(k string) []byte { return bodies[k] })

	from := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
	to := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	sum, _ := run(t, Options{
		Inputs:  []string{"s3://trail/"},
		S3:      c,
		S3Range: source.S3Range{From: from, To: to},
	})
	// 03-02 01:00, 03-02 13:00, 03-03 01:00 are in range; 03-03 13:00 is past to+1h.
	if sum.Inputs != 3 || sum.Decoded != 30 {
		t.Fatalf("inputs %d decoded %d, want 3 and 30", sum.Inputs, sum.Decoded)
	}
	sum, _ = run(t, Options{Inputs: []string{"s3://trail/AWSLogs/"}, S3: c})
	if sum.Inputs != 8 || sum.Decoded != 80 {
		t.Fatalf("no range: inputs %d decoded %d, want 8 and 80", sum.Inputs, sum.Decoded)
	}
	// A client is built lazily only for s3:// inputs.
	called := false
	_, err := Run(context.Background(), Options{Inputs: []string{"s3://trail/"}, Detect: defaultDetect(),
		NewS3: func(context.Context) (source.S3API, error) { called = true; return c, nil }})
	if err != nil || !called {
		t.Fatalf("lazy client: called %v err %v", called, err)
	}
	if _, err := Run(context.Background(), Options{Inputs: []string{"s3:///nobucket"}, S3: c, Detect: defaultDetect()}); err == nil ||
		!strings.Contains(err.Error(), "bad s3 URL") {
		t.Fatalf("bad URL: %v", err)
	}
}
