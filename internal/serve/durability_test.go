package serve

import (
	"bytes"
	"compress/gzip"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/devbroker"
)

// waitUntil polls cond on a short ticker; limit only bounds a stuck test.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		<-tick.C
	}
}

// Killing the service mid-stream (no drain, no final checkpoint) and
// starting it again on the same state file loses no alert, and every alert
// it emits is one the uninterrupted replay emits: re-deliveries only repeat
// ids.
func TestKillAndRestartLosesNoAlert(t *testing.T) {
	b := startBroker(t, 1)
	msgs, _ := genMessages(t, 40, 6*time.Hour)
	cfg := testConfig(b.Addrs())
	testDetect(&cfg)
	cfg.State.Path = filepath.Join(t.TempDir(), "state")
	want := map[string]bool{}
	for _, a := range referenceAlerts(t, cfg, msgs) {
		want[a.ID] = true
	}
	alerts := collect(t, b.Addrs(), cfg.Kafka.AlertsTopic)
	produce(t, b.Addrs(), msgs)

	first := startService(t, cfg, testLogger(t))
	waitUntil(t, time.Minute, "half the input processed", func() bool { return first.s.Processed() >= int64(len(msgs)/2) })
	first.kill(t)
	before := len(alerts.waitFor(t, time.Second, func([]kafkago.Message) bool { return true }))

	second := startService(t, cfg, testLogger(t))
	got := alerts.waitFor(t, time.Minute, func(m []kafkago.Message) bool {
		ids, _ := alertIDs(t, m)
		for id := range want {
			if !ids[id] {
				return false
			}
		}
		return true
	})
	waitUntil(t, time.Minute, "the rest processed", func() bool { return second.s.Processed() > 0 })
	if err := second.stop(t); err != nil {
		t.Fatal(err)
	}
	ids, n := alertIDs(t, got)
	for id := range ids {
		if !want[id] {
			t.Errorf("alert %s after the restart is not one of the replay's", id)
		}
	}
	t.Logf("%d alerts before the kill, %d after restart (%d distinct, %d in the replay); second run re-read %d messages",
		before, n, len(ids), len(want), second.s.Processed())
	if second.s.Processed() >= int64(len(msgs)) {
		t.Errorf("the restart re-read everything (%d messages): nothing was committed", second.s.Processed())
	}
}

// Malformed input goes to the dead-letter topic with its original bytes and
// the reason, source topic, partition and offset in headers, and is counted.
func TestDeadLetters(t *testing.T) {
	b := startBroker(t, 1)
	cfg := testConfig(b.Addrs())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"Records":[{"eventTime":"2025-03-01T00:00:00Z"`)) //nolint:errcheck
	zw.Close()
	corrupt := gz.Bytes()[:gz.Len()-6] // truncated gzip
	bad := [][]byte{
		[]byte("this is neither CloudTrail nor a flow log"),
		corrupt,
		[]byte(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a","accountId":"111122223333"},"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"x"}`),
		[]byte("2 123456789012 eni-1 10.0.0.1 not-an-address 443 1234 6 10 100 1700000000 1700000060 ACCEPT OK"),
	}
	// What the decoder says about each, independently of the service.
	opts, _ := cfg.DecodeOptions()
	dec, _ := decode.New(opts)
	var want []ingest.Reason
	for _, v := range bad {
		rs := &reasonSink{}
		dec.DecodeMessage(v, ingest.Position{Name: testInput}, rs) //nolint:errcheck
		if len(rs.reasons) != 1 {
			t.Fatalf("%q: decoder gave %v", v, rs.reasons)
		}
		want = append(want, rs.reasons[0])
	}
	var msgs []kafkago.Message
	for _, v := range bad {
		msgs = append(msgs, kafkago.Message{Topic: testInput, Key: []byte("k"), Value: v})
	}
	dls := collect(t, b.Addrs(), cfg.Kafka.DeadLetterTopic)
	produce(t, b.Addrs(), msgs)
	r := startService(t, cfg, testLogger(t))
	got := dls.waitFor(t, time.Minute, func(m []kafkago.Message) bool { return len(m) >= len(bad) })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		m := &got[i]
		off := kafka.Header(m, kafka.HeaderSourceOffset)
		j := int(off[0] - '0')
		if kafka.Header(m, kafka.HeaderReason) != string(want[j]) {
			t.Errorf("message %s: reason %q, want %q", off, kafka.Header(m, kafka.HeaderReason), want[j])
		}
		if kafka.Header(m, kafka.HeaderSourceTopic) != testInput || kafka.Header(m, kafka.HeaderSourcePartition) != "0" {
			t.Errorf("message %s: source headers %v", off, m.Headers)
		}
		if kafka.Header(m, kafka.HeaderDetail) == "" {
			t.Errorf("message %s: no detail", off)
		}
		if !bytes.Equal(m.Value, bad[j]) && !bytes.Contains(bad[j], m.Value) {
			t.Errorf("message %s: value is not the original bytes: %q", off, m.Value)
		}
	}
	if n := counterValue(t, r.s, "trailwatch_records_rejected_total"); n != float64(len(bad)) {
		t.Errorf("rejected counter %v, want %d", n, len(bad))
	}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type reasonSink struct{ reasons []ingest.Reason }

func (r *reasonSink) Event(*ingest.Event)                 {}
func (r *reasonSink) Insight(*ingest.Event, []byte)       {}
func (r *reasonSink) Reject(rj *ingest.Reject)            { r.reasons = append(r.reasons, rj.Reason) }
func (r *reasonSink) Skip(ingest.Reason, ingest.Position) {}

func counterValue(t testing.TB, s *Service, name string) float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func readyz(s *Service) int {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code
}

// With the broker down at start the service is not ready and retries; when
// the broker comes up it consumes without a restart and becomes ready; when
// the broker goes away again, readiness drops.
func TestBrokerDownAtStartThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig([]string{addr})
	r := startService(t, cfg, testLogger(t))
	if code := readyz(r.s); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d with no broker", code)
	}
	rec := httptest.NewRecorder()
	r.s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz %d: the process is alive", rec.Code)
	}

	b, err := devbroker.Start(devbroker.Options{Addr: addr, Topics: []string{testInput, cfg.Kafka.AlertsTopic, cfg.Kafka.DeadLetterTopic},
		Partitions: 1, GroupMinSessionTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	msgs, _ := genMessages(t, 10, time.Hour)
	produce(t, b.Addrs(), msgs[:200])
	waitUntil(t, time.Minute, "consuming after the broker came up", func() bool { return r.s.Processed() >= 200 })
	waitUntil(t, time.Minute, "ready", func() bool { return readyz(r.s) == http.StatusOK })
	b.Close()
	waitUntil(t, time.Minute, "not ready after the broker left", func() bool { return readyz(r.s) == http.StatusServiceUnavailable })
	r.kill(t)
}

// Two instances in one group split the partitions of input keyed by
// principal, and together they catch every incident the generator injected.
func TestTwoInstancesSplitPartitions(t *testing.T) {
	b := startBroker(t, 4)
	msgs, incidents := genMessages(t, 80, 12*time.Hour)
	cfg := testConfig(b.Addrs())
	testDetect(&cfg)
	// Partitions are fetched in turns, each fetch up to an hour of this
	// input's event time: small fetches and ample lateness keep events from
	// being late on the instance that reads them.
	cfg.Kafka.FetchMaxBytes = 32 << 10
	cfg.Detect.AllowedLateness = 2 * time.Hour
	alerts := collect(t, b.Addrs(), cfg.Kafka.AlertsTopic)
	// Let the group settle before input arrives: state does not move with a
	// partition (that is the scale-out work), so a partition that changes
	// hands mid-stream would start from an empty baseline on its new owner.
	x := startService(t, cfg, testLogger(t))
	waitUntil(t, time.Minute, "first instance joined", func() bool { return x.s.cons.Generation(testInput) >= 1 })
	y := startService(t, cfg, testLogger(t))
	waitUntil(t, time.Minute, "second instance joined", func() bool {
		return y.s.cons.Generation(testInput) >= 1 && x.s.cons.Generation(testInput) >= 2
	})
	// Input arrives as it would live, a few minutes of event time at a time,
	// not as one backlog whose partitions would be read at unrelated paces.
	for i := 0; i < len(msgs); i += 500 {
		n := min(i+500, len(msgs))
		produce(t, b.Addrs(), msgs[i:n])
		waitUntil(t, 2*time.Minute, "the chunk processed", func() bool {
			return x.s.Processed()+y.s.Processed() >= int64(n)
		})
	}
	if x.s.Processed() == 0 || y.s.Processed() == 0 {
		t.Fatalf("partitions not split: %d and %d messages", x.s.Processed(), y.s.Processed())
	}
	x.stop(t) //nolint:errcheck
	y.stop(t) //nolint:errcheck
	got := alerts.waitFor(t, 10*time.Second, func([]kafkago.Message) bool { return true })
	as, err := workload.ReadAlerts(joinValues(got))
	if err != nil {
		t.Fatal(err)
	}
	score := workload.Evaluate(incidents, as, cfg.Detect.Window)
	// The single-ordered replay of the same input is the yardstick.
	var ref []workload.Alert
	for _, a := range referenceAlerts(t, cfg, msgs) {
		ref = append(ref, workload.Alert{Principal: a.Principal, Metric: a.Metric, ID: a.ID, DetectedAt: mustTime(t, a.DetectedAt)})
	}
	refScore := workload.Evaluate(incidents, ref, cfg.Detect.Window)
	if refScore.Caught < 3 {
		t.Fatalf("scenario too tame: the replay catches %d incidents", refScore.Caught)
	}
	for i, o := range score.Outcomes {
		if refScore.Outcomes[i].Caught && !o.Caught {
			t.Errorf("incident %s on %s missed (the replay catches it)", o.Incident.Kind, o.Incident.Principal)
		}
	}
	t.Logf("late events %v and %v", counterValue(t, x.s, "trailwatch_late_events_total"), counterValue(t, y.s, "trailwatch_late_events_total"))
	t.Logf("instances processed %d and %d messages; %d alerts, %d of %d incidents caught (replay: %d)",
		x.s.Processed(), y.s.Processed(), len(as), score.Caught, len(incidents), refScore.Caught)
}
