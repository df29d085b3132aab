package respond

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/internal/testutil/awsquery"
)

// commitNotifier reports every committed alert id.
type commitNotifier struct {
	alertSource
	ch chan string
}

func (c commitNotifier) CommitMessages(ctx context.Context, ms ...kafka.Message) error {
	err := c.alertSource.CommitMessages(ctx, ms...)
	for _, m := range ms {
		var a detect.Alert
		_ = json.Unmarshal(m.Value, &a)
		c.ch <- a.ID
	}
	return err
}

// hookReceiver verifies each webhook's signature and reports the alert id;
// while block is set it holds requests until the client gives up.
type hookReceiver struct {
	t     *testing.T
	mu    sync.Mutex
	block bool
	got   chan string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := VerifySignature([]byte("s3cret"), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		h.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(401)
		return
	}
	h.mu.Lock()
	block := h.block
	h.mu.Unlock()
	if block {
		h.got <- "blocked:" + r.Header.Get(HeaderAlertID)
		<-r.Context().Done()
		return
	}
	h.got <- r.Header.Get(HeaderAlertID)
}

func TestEndToEndOnKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.SeedTopics(1, "trailwatch.alerts", "trailwatch.alerts.parked", "trailwatch.audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	topicARN, queueURL := snsToSQS(t, "e2e-alerts", true, "")
	fake := awsquery.New(t)
	fake.AddUser("mallory", map[string]string{"AKIAMALLORY000000001": "Active"})
	fake.AddRole("ci")
	hook := &hookReceiver{t: t, got: make(chan string, 10)}
	hs := httptest.NewServer(hook)
	defer hs.Close()

	cfg := Defaults()
	cfg.Retry.InitialBackoff, cfg.Retry.MaxBackoff = time.Millisecond, time.Millisecond
	cfg.Sinks = []SinkConfig{
		{Name: "soc-sns", Type: TypeSNS, TopicARN: topicARN, Endpoint: goawsURL},
		{Name: "soc-hook", Type: TypeWebhook, URL: hs.URL, SecretEnv: "HOOK_SECRET", Timeout: time.Minute},
	}
	q := &cfg.Quarantine
	q.Enabled, q.DryRun, q.Region = true, new(bool), awsquery.Region
	q.AuditFile = filepath.Join(t.TempDir(), "audit.jsonl")
	q.IAMEndpoint, q.EC2Endpoint, q.STSEndpoint = fake.URL, fake.URL, fake.URL
	awsCfg := awsquery.Config()

	commits := make(chan string, 10)
	start := func() (*Service, context.CancelFunc, chan error) {
		svc, err := New(context.Background(), cfg, Deps{Brokers: brokers, AWS: &awsCfg, HTTP: HTTPOptions{Getenv: getenv},
			Reader: func(rc *kafka.ReaderConfig) {
				rc.HeartbeatInterval, rc.SessionTimeout, rc.RebalanceTimeout = 50*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
				rc.MaxWait, rc.JoinGroupBackoff = 50*time.Millisecond, 50*time.Millisecond
			},
			Responder: func(o *ResponderOptions) { o.Source = commitNotifier{o.Source, commits} },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		return svc, cancel, done
	}

	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "trailwatch.alerts", Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond}
	defer w.Close()
	produce := func(a *detect.Alert) {
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(a.Principal), Value: a.AppendJSON(nil)}); err != nil {
			t.Fatal(err)
		}
	}

	// 1. An incident reaches SNS, the webhook and (live) quarantine.
	a := testAlert("arn:aws:iam::111111111111:user/mallory", "IAMUser")
	svc, cancel, done := start()
	produce(a)
	if id := <-hook.got; id != a.ID {
		t.Fatalf("webhook got %s", id)
	}
	if id := <-commits; id != a.ID {
		t.Fatalf("committed %s", id)
	}
	if fake.KeyStatus("mallory", "AKIAMALLORY000000001") != "Inactive" || len(fake.UserPolicies("mallory")) != 1 {
		t.Fatal("mallory not quarantined")
	}

	// 2. Kill the responder while the webhook holds the next alert.
	b := testAlert("arn:aws:iam::111111111111:role/ci", "AssumedRole")
	hook.mu.Lock()
	hook.block = true
	hook.mu.Unlock()
	produce(b)
	if id := <-hook.got; id != "blocked:"+b.ID {
		t.Fatalf("webhook got %s", id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	svc.Close()
	select {
	case id := <-commits:
		t.Fatalf("%s committed although delivery was cut", id)
	default:
	}
	if len(fake.RolePolicies("ci")) != 0 {
		t.Fatal("quarantine ran before the webhook accepted")
	}

	// 3. Restart: the alert is delivered again, everywhere.
	hook.mu.Lock()
	hook.block = false
	hook.mu.Unlock()
	svc, cancel, done = start()
	defer svc.Close()
	if id := <-hook.got; id != b.ID {
		t.Fatalf("after restart webhook got %s", id)
	}
	if id := <-commits; id != b.ID {
		t.Fatalf("committed %s", id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(fake.RolePolicies("ci")) != 1 {
		t.Fatal("ci not quarantined after restart")
	}
	// SNS got b before the kill and again after: at-least-once, and the
	// alert id lets subscribers drop the repeat.
	ids := map[string]int{}
	for _, m := range receive(t, queueURL) {
		var x detect.Alert
		if err := json.Unmarshal([]byte(*m.Body), &x); err != nil {
			t.Fatal(err)
		}
		ids[x.ID]++
	}
	if ids[a.ID] != 1 || ids[b.ID] != 2 || len(ids) != 2 {
		t.Fatalf("SNS deliveries %v", ids)
	}
	recs, err := ReadAudit(q.AuditFile)
	if err != nil || len(recs) != 2 || recs[0].AlertID != a.ID || recs[1].AlertID != b.ID || recs[1].Result != ResultQuarantined {
		t.Fatalf("audit %v %+v", err, recs)
	}
}
