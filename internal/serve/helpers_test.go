package serve

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/devbroker"
)

const testInput = "trailwatch.cloudtrail"

// startBroker starts a development broker on a free port with the service's
// topics.
func startBroker(t testing.TB, partitions int32, extra ...string) *devbroker.Broker {
	t.Helper()
	topics := append([]string{testInput, config.DefaultAlertsTopic, config.DefaultDeadLetterTopic}, extra...)
	b, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Topics: topics, Partitions: partitions,
		GroupMinSessionTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// testConfig is a service config with fast group timing for brokers.
func testConfig(brokers []string) config.Config {
	c := config.Default()
	c.Kafka.Brokers = brokers
	c.Kafka.Inputs = []string{testInput}
	c.Kafka.CommitInterval = 100 * time.Millisecond
	c.Kafka.FetchMaxWait = 100 * time.Millisecond
	c.Kafka.SessionTimeout = 1 * time.Second
	c.Kafka.HeartbeatInterval = 100 * time.Millisecond
	c.Kafka.RebalanceTimeout = 1 * time.Second
	c.Kafka.ShutdownTimeout = 20 * time.Second
	c.HTTP.Addr = ""
	c.Detect.Parallelism = 2
	c.Scale.Role = config.RoleSingle // the one-stage pipeline; the scale-out topology has its own tests
	return c
}

// running is a service started in the background.
type running struct {
	s      *Service
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startService(t testing.TB, cfg config.Config, log *zap.Logger) *running {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	s, err := New(Options{Config: cfg, Logger: log, ProbeInterval: 50 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); r.err = s.Run(ctx) }()
	t.Cleanup(func() { r.cancel(); <-r.done })
	return r
}

// stop shuts down gracefully and returns Run's error.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	<-r.done
	return r.err
}

// kill stops like a crash: no draining, no final checkpoint.
func (r *running) kill(t testing.TB) {
	t.Helper()
	r.s.abort.Store(true)
	r.cancel()
	<-r.done
}

// genMessages generates a small organization's traffic as Kafka messages
// keyed by principal, in event-time order, with its incidents.
func genMessages(t testing.TB, principals int, dur time.Duration) ([]kafkago.Message, []workload.Incident) {
	t.Helper()
	c := workload.DefaultConfig()
	c.Seed = 5
	c.Principals = principals
	c.Instances = 8
	c.Duration = dur
	c.WarmUp = dur / 2
	c.FlowsPerMinute = 1
	c.FlowFormat = workload.FlowV2
	c.Incidents = true
	g, err := workload.New(c)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafkago.Message
	var rec workload.Record
	for g.Next(&rec) {
		out = append(out, kafkago.Message{Topic: testInput, Key: []byte(rec.Principal), Value: slices.Clone(rec.Body)})
	}
	return out, g.Incidents()
}

// testDetect is the detection config of the end-to-end tests: the default
// with a history requirement the generated warm-up can meet.
func testDetect(c *config.Config) {
	c.Detect.MinHistory = 30
	c.Detect.PeerMinWindows = 10
	c.Detect.PeerMinSamples = 20
}

// produce writes msgs (each with its Topic) and waits for the acks.
func produce(t testing.TB, brokers []string, msgs []kafkago.Message) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll, BatchSize: 1000, BatchBytes: 500_000, BatchTimeout: time.Millisecond}
	defer w.Close()
	for i := 0; i < len(msgs); i += 5000 {
		if err := w.WriteMessages(context.Background(), msgs[i:min(i+5000, len(msgs))]...); err != nil {
			t.Fatal(err)
		}
	}
}

// collector reads a topic (every partition, from the start) in the background.
type collector struct {
	mu   sync.Mutex
	msgs []kafkago.Message
	cond chan struct{}
}

func collect(t testing.TB, brokers []string, topic string) *collector {
	t.Helper()
	c := &collector{cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, GroupID: "test-collector-" + topic, Topic: topic,
		MaxWait: 50 * time.Millisecond, StartOffset: kafkago.FirstOffset, HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout: time.Second, RebalanceTimeout: time.Second, JoinGroupBackoff: 100 * time.Millisecond})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			select {
			case c.cond <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	return c
}

// waitFor waits until ok holds for the collected messages, or fails after
// limit (a generous bound for a stuck pipeline, not a timing assertion).
func (c *collector) waitFor(t testing.TB, limit time.Duration, ok func([]kafkago.Message) bool) []kafkago.Message {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		msgs := slices.Clone(c.msgs)
		c.mu.Unlock()
		if ok(msgs) {
			return msgs
		}
		select {
		case <-c.cond:
		case <-deadline.C:
			t.Fatalf("gave up waiting: %d messages collected", len(msgs))
		}
	}
}

// alertIDs returns the distinct ids among alert messages, and the count.
func alertIDs(t testing.TB, msgs []kafkago.Message) (map[string]bool, int) {
	t.Helper()
	ids := map[string]bool{}
	alerts, err := workload.ReadAlerts(joinValues(msgs))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		ids[a.ID] = true
	}
	return ids, len(alerts)
}

func joinValues(msgs []kafkago.Message) *bytes.Reader {
	var b []byte
	for _, m := range msgs {
		b = append(append(b, m.Value...), '\n')
	}
	return bytes.NewReader(b)
}

// referenceAlerts runs the replay path over msgs in order: decode, detect
// in the default (buffered, sorted) mode, flush.
func referenceAlerts(t testing.TB, cfg config.Config, msgs []kafkago.Message) []*detect.Alert {
	t.Helper()
	opts, err := cfg.DecodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decode.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	st := baseline.New(cfg.BaselineOptions())
	var out []*detect.Alert
	eng, err := detect.New(cfg.Detect, st, func(a *detect.Alert) { out = append(out, a) })
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	sk := &refSink{eng: eng}
	for i := range msgs {
		pos := ingest.Position{Name: msgs[i].Topic, Partition: 0, Offset: int64(i)}
		if err := dec.DecodeMessage(msgs[i].Value, pos, sk); err != nil {
			t.Fatal(err)
		}
	}
	eng.Flush()
	return out
}

type refSink struct{ eng *detect.Engine }

func (r *refSink) Event(ev *ingest.Event)              { r.eng.Process(ev) }
func (r *refSink) Insight(*ingest.Event, []byte)       {}
func (r *refSink) Reject(*ingest.Reject)               {}
func (r *refSink) Skip(ingest.Reason, ingest.Position) {}

// testLogger logs to the test under -v, else nowhere.
func testLogger(t testing.TB) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t)
	}
	return zap.NewNop()
}

var _ = net.Listen
var _ = strconv.Itoa
var _ = kafka.HeaderReason
