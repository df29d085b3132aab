package source

import (
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/internal/testutil"
)

// recordingS3 remembers every prefix listed, to prove that a time range does
// not list the whole bucket.
type recordingS3 struct {
	S3API
	mu     sync.Mutex
	listed []string
}

func (r *recordingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opt ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	r.mu.Lock()
	r.listed = append(r.listed, aws.ToString(in.Prefix)+"|"+aws.ToString(in.Delimiter))
	r.mu.Unlock()
	return r.S3API.ListObjectsV2(ctx, in, opt...)
}

func putObjects(t *testing.T, c *s3.Client, bucket string, keys []string) {
	testutil.PutObjects(t, c, bucket, keys, func(k string) []byte { return []byte("body of " + k) })
}

// trailKeys lays out CloudTrail files the way CloudTrail does: two accounts
// (one under an organization trail), two regions, five days, two files a day,
// plus a digest folder and a custom prefix.
func trailKeys() []string {
	var keys []string
	for _, acct := range []string{"AWSLogs/111122223333", "AWSLogs/o-abc123/444455556666"} {
		id := acct[strings.LastIndexByte(acct, '/')+1:]
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			for day := 1; day <= 5; day++ {
				for _, hm := range []string{"0005", "2355"} {
					d := time.Date(2025, 3, day, 0, 0, 0, 0, time.UTC)
					ts := d.Format("20060102") + "T" + hm + "Z"
					keys = append(keys, "trails/"+acct+"/CloudTrail/"+region+"/"+d.Format("2006/01/02")+"/"+
						id+"_CloudTrail_"+region+"_"+ts+"_x.json.gz")
				}
			}
		}
	}
	keys = append(keys, "trails/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2025/03/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20250302T0100Z.json.gz")
	return keys
}

func TestS3UnitsRangeUsesKeyLayout(t *testing.T) {
	c := testutil.NewFakeS3(t)
	putObjects(t, c, "logs", trailKeys())
	rec := &recordingS3{S3API: c}
	from := time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)
	to := time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)
	units, err := S3Units(context.Background(), rec, "s3://logs/trails/", S3Range{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range units {
		names = append(names, strings.TrimPrefix(u.Name, "s3://logs/trails/AWSLogs/"))
	}
	// Per account and region: 03-02T2355 and 03-03T0005 are in [from, to+1h);
	// 03-02T0005 is before from; 03-03T2355 after to+slack.
	want := []string{
		"111122223333/CloudTrail/eu-west-1/2025/03/02/111122223333_CloudTrail_eu-west-1_20250302T2355Z_x.json.gz",
		"111122223333/CloudTrail/eu-west-1/2025/03/03/111122223333_CloudTrail_eu-west-1_20250303T0005Z_x.json.gz",
		"111122223333/CloudTrail/us-east-1/2025/03/02/111122223333_CloudTrail_us-east-1_20250302T2355Z_x.json.gz",
		"111122223333/CloudTrail/us-east-1/2025/03/03/111122223333_CloudTrail_us-east-1_20250303T0005Z_x.json.gz",
		"o-abc123/444455556666/CloudTrail/eu-west-1/2025/03/02/444455556666_CloudTrail_eu-west-1_20250302T2355Z_x.json.gz",
		"o-abc123/444455556666/CloudTrail/eu-west-1/2025/03/03/444455556666_CloudTrail_eu-west-1_20250303T0005Z_x.json.gz",
		"o-abc123/444455556666/CloudTrail/us-east-1/2025/03/02/444455556666_CloudTrail_us-east-1_20250302T2355Z_x.json.gz",
		"o-abc123/444455556666/CloudTrail/us-east-1/2025/03/03/444455556666_CloudTrail_us-east-1_20250303T0005Z_x.json.gz",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("selected:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	// Only day folders in range were listed in full; never the bucket or a region.
	for _, l := range rec.listed {
		prefix, delim, _ := strings.Cut(l, "|")
		if delim == "" && !strings.Contains(prefix, "/2025/03/02/") && !strings.Contains(prefix, "/2025/03/03/") {
			t.Errorf("listed %q in full: outside the selected days", prefix)
		}
	}
	// The object bodies are readable through the units.
	rc, err := units[0].Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.HasPrefix(string(b), "body of trails/AWSLogs/111122223333/CloudTrail/eu-west-1/2025/03/02/") {
		t.Fatalf("body %q", b)
	}
}

func TestS3UnitsNoRangeListsAllSorted(t *testing.T) {
	c := testutil.NewFakeS3(t)
	keys := trailKeys()
	putObjects(t, c, "all", keys)
	units, err := S3Units(context.Background(), c, "s3://all/trails/AWSLogs/111122223333/", S3Range{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range keys {
		if strings.HasPrefix(k, "trails/AWSLogs/111122223333/") {
			want = append(want, "s3://all/"+k)
		}
	}
	sort.Strings(want)
	if len(units) != len(want) {
		t.Fatalf("got %d units, want %d", len(units), len(want))
	}
	for i := range want {
		if units[i].Name != want[i] {
			t.Fatalf("unit %d = %s, want %s", i, units[i].Name, want[i])
		}
	}
}

func TestParseS3URL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix string
		bad                bool
	}{
		{"s3://b/AWSLogs/1/", "b", "AWSLogs/1/", false},
		{"s3://b", "b", "", false},
		{"s3:///x", "", "", true},
		{"http://b/x", "", "", true},
	} {
		b, p, err := ParseS3URL(tc.in)
		if (err != nil) != tc.bad || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseS3URL(%q) = %q, %q, %v", tc.in, b, p, err)
		}
	}
}
