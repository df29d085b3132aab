package respond

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/internal/testutil/awsquery"
)

// t0 is the fixed wall clock of the tests.
var t0 = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testAlert is the docs/alerts.md example with the given principal.
func testAlert(principal, typ string) *detect.Alert {
	a := &detect.Alert{
		Principal: principal, PrincipalType: typ, Account: "111111111111", Source: "cloudtrail",
		Metric: "api_calls", WindowStart: "2025-03-01T01:30:00Z", WindowEnd: "2025-03-01T01:31:00Z",
		Observed: 21, Mean: 0.332646, StdDev: 1, ZScore: 20.667354, Threshold: 20.332646,
		Severity: "critical", BaselineWindows: 90,
		Top:        []detect.TopItem{{Key: "s3.amazonaws.com:ListBuckets", Value: 21, Share: 1}},
		Evidence:   []string{"5e7f0a12-7c3b-4d2e-9f10-000000000000", "5e7f0a12-7c3b-4d2e-9f10-001000000000"},
		DetectedAt: "2025-03-01T01:30:02Z",
	}
	a.ID = detect.AlertID(a.Principal, a.Metric, a.WindowStart)
	return a
}

// fakeAWS starts the SigV4-verifying fake and returns clients for it.
func fakeAWS(t *testing.T) (*awsquery.Server, Clients) {
	fake := awsquery.New(t)
	cfg := awsquery.Config()
	return fake, Clients{
		IAM: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(fake.URL) }),
		EC2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(fake.URL) }),
	}
}

// oneAccount serves a single account's clients.
type oneAccount struct {
	account string
	c       Clients
}

func (o oneAccount) ForAccount(_ context.Context, account string) (Clients, error) {
	if account != o.account {
		return Clients{}, ErrOtherAccount
	}
	return o.c, nil
}

func openAudit(t *testing.T) *AuditLog {
	t.Helper()
	l, err := OpenAuditLog(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
