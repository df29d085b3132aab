package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/internal/testutil/awsquery"
	"github.com/trailwatch/trailwatch/internal/testutil/goaws"
	"github.com/trailwatch/trailwatch/respond"
)

// goawsURL is the in-process SNS/SQS (goaws keeps global state: one per test
// binary).
var goawsURL string

func TestMain(m *testing.M) {
	url, stop := goaws.Start()
	goawsURL = url
	code := m.Run()
	stop()
	os.Exit(code)
}

// signedHooks verifies every webhook's signature and records the alert ids.
type signedHooks struct {
	t   *testing.T
	mu  sync.Mutex
	ids map[string]int
}

func (h *signedHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := respond.VerifySignature([]byte("s3cret"), r.Header.Get(respond.HeaderTimestamp),
		r.Header.Get(respond.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		h.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.ids[r.Header.Get(respond.HeaderAlertID)]++
	h.mu.Unlock()
}

func (h *signedHooks) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// TestServeWithResponders runs serve on the embedded broker with the response
// stage on: SNS (goaws, read back through an SQS subscription), a signed
// webhook, and quarantine (dry run first, as shipped) against an AWS
// endpoint that verifies SigV4. Generated traffic with incidents goes in;
// every alert serve raises reaches SNS and the webhook, and quarantine audits
// the calls it would make. (Killing the responder mid-delivery and
// re-delivering after restart is TestEndToEndOnKafka in respond/.)
func TestServeWithResponders(t *testing.T) {
	ctx := context.Background()
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "y", "")}
	sn := sns.NewFromConfig(awsCfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(goawsURL) })
	sq := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(goawsURL) })
	top, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("soc")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("soc-q")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:100010001000:soc-q"), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	hooks := &signedHooks{t: t, ids: map[string]int{}}
	hs := httptest.NewServer(hooks)
	defer hs.Close()
	t.Setenv("TW_TEST_HOOK_SECRET", "s3cret")
	fake := awsquery.New(t)
	fakeCfg := awsquery.Config()

	b := startBroker(t, 1, "trailwatch.alerts.parked")
	msgs, _ := genMessages(t, 40, 6*time.Hour)
	cfg := testConfig(b.Addrs())
	testDetect(&cfg)
	want := referenceAlerts(t, cfg, msgs)
	if len(want) == 0 {
		t.Fatal("no reference alerts")
	}
	// trailwatch acts in the account of the first alert's principal; the
	// others are other accounts (alert only, audited as such).
	fake.Identity.Account = want[0].Account
	for _, a := range want {
		if a.PrincipalType == "IAMUser" {
			fake.AddUser(a.Principal[strings.LastIndexByte(a.Principal, '/')+1:], map[string]string{"AKIAEXAMPLE000000001": "Active"})
		}
	}
	rc := respond.Defaults()
	rc.Sinks = []respond.SinkConfig{
		{Name: "soc-sns", Type: respond.TypeSNS, TopicARN: *top.TopicArn, Endpoint: goawsURL},
		{Name: "soc-hook", Type: respond.TypeWebhook, URL: hs.URL, SecretEnv: "TW_TEST_HOOK_SECRET", Timeout: 5 * time.Second},
	}
	rc.Quarantine.Enabled = true // dry_run stays at its default: true
	rc.Quarantine.Region = awsquery.Region
	rc.Quarantine.AuditFile = filepath.Join(t.TempDir(), "audit.jsonl")
	rc.Quarantine.IAMEndpoint, rc.Quarantine.EC2Endpoint, rc.Quarantine.STSEndpoint = fake.URL, fake.URL, fake.URL
	cfg.Respond = rc
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	produce(t, b.Addrs(), msgs)
	s, err := New(Options{Config: cfg, Logger: testLogger(t), ProbeInterval: 50 * time.Millisecond,
		JoinGroupBackoff: 200 * time.Millisecond, AWS: &fakeCfg,
		RespondReader: func(r *kafkago.ReaderConfig) {
			r.HeartbeatInterval, r.SessionTimeout, r.RebalanceTimeout = 100*time.Millisecond, time.Second, time.Second
			r.MaxWait, r.JoinGroupBackoff = 100*time.Millisecond, 100*time.Millisecond
		}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	deadline := time.Now().Add(90 * time.Second)
	for hooks.count() < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling an external receiver; no assertion on time
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, a := range want {
		if hooks.ids[a.ID] == 0 {
			t.Errorf("alert %s did not reach the webhook", a.ID)
		}
	}
	// SNS: every alert arrives through the SQS subscription as the alert JSON.
	got := map[string]bool{}
	for recvDeadline := time.Now().Add(30 * time.Second); len(got) < len(want) && time.Now().Before(recvDeadline); {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var a struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal([]byte(*m.Body), &a); err != nil {
				t.Fatalf("SNS body %q: %v", *m.Body, err)
			}
			got[a.ID] = true
		}
	}
	missing := 0
	for _, a := range want {
		if !got[a.ID] {
			missing++
			t.Errorf("alert %s did not reach SNS", a.ID)
		}
	}
	if missing > 0 {
		t.Logf("delivery metrics: %s", respondMetrics(t, s))
	}
	// Quarantine audited an entry per alert it considered, with the calls.
	recs, err := respond.ReadAudit(rc.Quarantine.AuditFile)
	if err != nil || len(recs) == 0 {
		t.Fatalf("audit: %v, %d records", err, len(recs))
	}
	var dry int
	for _, r := range recs {
		if r.Result == respond.ResultDryRun && len(r.Calls) > 0 {
			dry++
		}
		if r.Result == respond.ResultQuarantined {
			t.Errorf("live quarantine although dry_run is the default: %+v", r)
		}
	}
	if dry == 0 {
		t.Errorf("no dry-run quarantine with its planned calls in the audit: %+v", recs)
	}
	t.Logf("%d alerts; audit results: %d records, %d dry runs; fake AWS saw %s", len(want), len(recs), dry, strings.Join(fake.Actions(), ","))
}

// respondMetrics renders the response stage's delivery counters, for a
// failing test to say what the responder saw.
func respondMetrics(t *testing.T, s *Service) string {
	mfs, err := s.Registry().Gather()
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "trailwatch_respond_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			for _, l := range m.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			if c := m.GetCounter(); c != nil {
				b.WriteString(" " + strconv.FormatFloat(c.GetValue(), 'g', -1, 64))
			}
			b.WriteString("; ")
		}
	}
	return b.String()
}
