package respond

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detect"
)

var testEnv = map[string]string{"HOOK_SECRET": "s3cret", "API_TOKEN": "tok-123", "PD_KEY": "R0UT1NGKEY", "SLACK_URL": ""}

func getenv(k string) string { return testEnv[k] }

// receiver is an httptest server answering with the queued statuses (200
// when the queue is empty) and keeping every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
	bodies   [][]byte
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.headers, r.bodies = append(r.headers, req.Header.Clone()), append(r.bodies, b)
		st := 200
		if len(r.statuses) > 0 {
			st, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		if st == 429 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(st)
		io.WriteString(w, `{"status":"x"}`)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() ([]http.Header, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...), append([][]byte(nil), r.bodies...)
}

func TestWebhookSignedDelivery(t *testing.T) {
	rc := newReceiver(t)
	w, err := NewWebhook(SinkConfig{Name: "hook", Type: TypeWebhook, URL: rc.URL, SecretEnv: "HOOK_SECRET",
		Headers: []Header{{Name: "Authorization", ValueEnv: "API_TOKEN"}, {Name: "X-Team", Value: "soc"}}},
		"sinks[0]", HTTPOptions{Getenv: getenv, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert("arn:aws:iam::111111111111:user/quiet", "IAMUser")
	if err := w.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	hs, bs := rc.requests()
	h, body := hs[0], bs[0]
	if string(body) != string(a.AppendJSON(nil)) {
		t.Fatalf("body %s", body)
	}
	if h.Get(HeaderTimestamp) != "1740794400" || h.Get(HeaderAlertID) != a.ID || h.Get("Authorization") != "tok-123" ||
		h.Get("X-Team") != "soc" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	// What a receiver does (docs/webhooks.md).
	if err := VerifySignature([]byte("s3cret"), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body, t0.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		secret string
		body   []byte
		now    time.Time
		want   error
	}{
		{"wrong secret", "other", body, t0, ErrBadSignature},
		{"tampered body", "s3cret", append([]byte(" "), body...), t0, ErrBadSignature},
		{"replayed later", "s3cret", body, t0.Add(6 * time.Minute), ErrStale},
		{"from the future", "s3cret", body, t0.Add(-6 * time.Minute), ErrStale},
	} {
		if err := VerifySignature([]byte(tc.secret), h.Get(HeaderTimestamp), h.Get(HeaderSignature), tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestHTTPStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status               int
		ok, permanent, after bool
	}{
		{200, true, false, false}, {202, true, false, false},
		{400, false, true, false}, {401, false, true, false}, {404, false, true, false}, {301, false, true, false},
		{408, false, false, false}, {429, false, false, true}, {500, false, false, false}, {503, false, false, false},
	} {
		rc := newReceiver(t, tc.status)
		p := newPoster((&HTTPOptions{}).withDefaults().Client, rc.URL, time.Second)
		err := p.post(context.Background(), []byte("{}"), nil)
		var ra *RetryAfterError
		if (err == nil) != tc.ok || errors.Is(err, ErrPermanent) != tc.permanent || errors.As(err, &ra) != tc.after {
			t.Errorf("%d: %v", tc.status, err)
		}
		if tc.after && ra.After != 7*time.Second {
			t.Errorf("retry after %s", ra.After)
		}
		if err != nil && strings.Contains(err.Error(), rc.URL) {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "-1": 0, "junk": 0, "99999999": 24 * time.Hour,
		"Sat, 01 Mar 2025 00:00:30 GMT": 30 * time.Second, "Fri, 28 Feb 2025 00:00:30 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	env := map[string]string{"SLACK_URL": "not a url https://hooks.slack.com/services/T000/B000/XXXXSECRET"}
	_, err := NewSlack(SinkConfig{Name: "s", Type: TypeSlack, URLEnv: "SLACK_URL"}, "sinks[1]", HTTPOptions{Getenv: func(k string) string { return env[k] }})
	if err == nil || strings.Contains(err.Error(), "XXXXSECRET") || !strings.Contains(err.Error(), "respond.sinks[1].url_env") {
		t.Fatalf("err %v", err)
	}
	_, err = NewWebhook(SinkConfig{Name: "w", Type: TypeWebhook, URL: "http://x", SecretEnv: "MISSING"}, "sinks[0]", HTTPOptions{Getenv: getenv})
	if !errors.Is(err, ErrInvalidConfig) || err.Error() != "invalid respond config: respond.sinks[0].secret_env: environment variable MISSING is empty or unset" {
		t.Fatalf("err %v", err)
	}
}

func TestSlackBlocks(t *testing.T) {
	rc := newReceiver(t)
	s, err := NewSlack(SinkConfig{Name: "slack", Type: TypeSlack, URL: rc.URL,
		EvidenceURL: "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/{id}"}, "sinks[0]", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert("arn:aws:iam::111111111111:user/<!channel>", "IAMUser")
	if err := s.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	_, bs := rc.requests()
	var p slackPayload
	if err := json.Unmarshal(bs[0], &p); err != nil {
		t.Fatal(err)
	}
	if who := p.Blocks[1].Fields[0].Text; strings.Contains(who, "<!channel>") || !strings.Contains(who, "&lt;!channel&gt;") {
		t.Fatal("principal not escaped for mrkdwn")
	}
	types := []string{}
	for _, b := range p.Blocks {
		types = append(types, b.Type)
	}
	if strings.Join(types, ",") != "header,section,section,context,context" || p.Text == "" {
		t.Fatalf("blocks %v", types)
	}
	if !strings.Contains(p.Blocks[1].Fields[3].Text, "z = 20.667354") || !strings.Contains(p.Blocks[2].Text.Text, "s3.amazonaws.com:ListBuckets") ||
		!strings.Contains(p.Blocks[3].Elements[1].Text, "<https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/5e7f0a12-7c3b-4d2e-9f10-000000000000|") {
		t.Fatalf("payload %s", bs[0])
	}
}

func TestPagerDutyEvent(t *testing.T) {
	rc := newReceiver(t, 202)
	p, err := NewPagerDuty(SinkConfig{Name: "pd", Type: TypePagerDuty, URL: rc.URL, RoutingKeyEnv: "PD_KEY"}, "sinks[0]", HTTPOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert("arn:aws:iam::111111111111:user/quiet", "IAMUser")
	if err := p.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	_, bs := rc.requests()
	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     struct {
			Summary, Source, Severity, Timestamp, Component, Group, Class string
			CustomDetails                                                 detect.Alert `json:"custom_details"`
		}
	}
	if err := json.Unmarshal(bs[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RoutingKey != "R0UT1NGKEY" || ev.EventAction != "trigger" || ev.DedupKey != a.ID || ev.Payload.Severity != "critical" ||
		ev.Payload.Source != a.Principal || ev.Payload.Timestamp != a.DetectedAt || ev.Payload.CustomDetails.ID != a.ID {
		t.Fatalf("event %s", bs[0])
	}
	for in, want := range map[string]string{"critical": "critical", "high": "error", "medium": "warning", "low": "info", "": "info"} {
		if got := PagerDutySeverity(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
