package respond

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/detect"
)

// scriptSink returns the scripted errors in order, then nil.
type scriptSink struct {
	name string
	mu   sync.Mutex
	errs []error
	got  []string
}

func (s *scriptSink) Name() string { return s.name }
func (s *scriptSink) Deliver(_ context.Context, a *detect.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, a.ID)
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

// memQueue is an in-memory source and parked writer.
type memQueue struct {
	mu        sync.Mutex
	msgs      []kafka.Message
	committed []int64
	parked    []kafka.Message
}

func (q *memQueue) FetchMessage(ctx context.Context) (kafka.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return kafka.Message{}, context.Canceled
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	return m, nil
}

func (q *memQueue) CommitMessages(_ context.Context, ms ...kafka.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range ms {
		q.committed = append(q.committed, m.Offset)
	}
	return nil
}

func (q *memQueue) WriteMessages(_ context.Context, ms ...kafka.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.parked = append(q.parked, ms...)
	return nil
}

type rfix struct {
	q      *memQueue
	clock  *fakeClock
	sleeps []time.Duration
	reg    *prometheus.Registry
	r      *Responder
}

func newRFix(t *testing.T, sinks ...RoutedSink) *rfix {
	f := &rfix{q: &memQueue{}, clock: &fakeClock{t: t0}, reg: prometheus.NewRegistry()}
	var err error
	f.r, err = NewResponder(ResponderOptions{Source: f.q, Parked: f.q, ParkedTopic: "parked", Sinks: sinks,
		Retry:   RetryConfig{MaxAttempts: 4, InitialBackoff: time.Second, MaxBackoff: 3 * time.Second, MaxRetryAfter: 10 * time.Second},
		Breaker: BreakerConf{FailureThreshold: 3, Cooldown: time.Minute},
		Metrics: NewMetrics(f.reg), Now: f.clock.Now, Jitter: func() float64 { return 0.5 },
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.sleeps = append(f.sleeps, d)
			f.clock.Add(d)
			return ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rfix) run(t *testing.T, alerts ...*detect.Alert) {
	t.Helper()
	for i, a := range alerts {
		f.q.msgs = append(f.q.msgs, kafka.Message{Topic: "trailwatch.alerts", Offset: int64(i), Key: []byte(a.Principal), Value: a.AppendJSON(nil)})
	}
	// memQueue answers context.Canceled when empty, as a Reader does on shutdown.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.r.o.Source = stopWhenEmpty{f.q, cancel}
	if err := f.r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

type stopWhenEmpty struct {
	*memQueue
	cancel func()
}

func (s stopWhenEmpty) FetchMessage(ctx context.Context) (kafka.Message, error) {
	m, err := s.memQueue.FetchMessage(ctx)
	if err != nil {
		s.cancel()
	}
	return m, err
}

func header(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestResponderRetriesWithBackoffThenDelivers(t *testing.T) {
	s := &scriptSink{name: "hook", errs: []error{errors.New("conn refused"), errors.New("502")}}
	f := newRFix(t, RoutedSink{Sink: s})
	f.run(t, testAlert("arn:aws:iam::111111111111:user/a", "IAMUser"))
	// Backoff 1s then 2s, jittered to [d/2, d) with jitter 0.5.
	if want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond}; !slices.Equal(f.sleeps, want) {
		t.Fatalf("sleeps %v, want %v", f.sleeps, want)
	}
	if len(s.got) != 3 || len(f.q.parked) != 0 || !slices.Equal(f.q.committed, []int64{0}) {
		t.Fatalf("attempts %d parked %d committed %v", len(s.got), len(f.q.parked), f.q.committed)
	}
	if metric(t, f.reg, "trailwatch_respond_retries_total", "sink", "hook") != 2 ||
		metric(t, f.reg, "trailwatch_respond_deliveries_total", "sink", "hook", "result", "ok") != 1 {
		t.Fatal("metrics")
	}
}

func TestResponderHonoursRetryAfter(t *testing.T) {
	s := &scriptSink{name: "hook", errs: []error{
		&RetryAfterError{After: 7 * time.Second, Err: errors.New("429")},
		&RetryAfterError{After: time.Hour, Err: errors.New("429")},
	}}
	f := newRFix(t, RoutedSink{Sink: s})
	f.run(t, testAlert("arn:aws:iam::111111111111:user/a", "IAMUser"))
	if want := []time.Duration{7 * time.Second, 10 * time.Second}; !slices.Equal(f.sleeps, want) {
		t.Fatalf("sleeps %v, want %v (second capped by max_retry_after)", f.sleeps, want)
	}
}

func TestResponderParks(t *testing.T) {
	rejecting := &scriptSink{name: "rejecting", errs: []error{Permanent(errors.New("HTTP 400"))}}
	failing := &scriptSink{name: "failing", errs: []error{errors.New("e1"), errors.New("e2"), errors.New("e3"), errors.New("e4 last")}}
	fine := &scriptSink{name: "fine"}
	lowOnly := &scriptSink{name: "low-only"}
	f := newRFix(t, RoutedSink{Sink: rejecting}, RoutedSink{Sink: failing}, RoutedSink{Sink: fine},
		RoutedSink{Sink: lowOnly, Route: Route{Severities: []string{"low"}}})
	a := testAlert("arn:aws:iam::111111111111:user/a", "IAMUser")
	f.run(t, a)
	if len(rejecting.got) != 1 || len(failing.got) != 4 || len(fine.got) != 1 || len(lowOnly.got) != 0 {
		t.Fatalf("attempts: rejecting %d failing %d fine %d low-only %d", len(rejecting.got), len(failing.got), len(fine.got), len(lowOnly.got))
	}
	if len(f.q.parked) != 2 || !slices.Equal(f.q.committed, []int64{0}) {
		t.Fatalf("parked %d committed %v", len(f.q.parked), f.q.committed)
	}
	p0, p1 := f.q.parked[0], f.q.parked[1]
	if p0.Topic != "parked" || string(p0.Value) != string(a.AppendJSON(nil)) || string(p0.Key) != a.Principal ||
		header(p0, HeaderParkReason) != ParkRejected || header(p0, HeaderParkSink) != "rejecting" || header(p0, HeaderParkAttempts) != "1" ||
		header(p0, HeaderParkAlertID) != a.ID || header(p0, HeaderParkSource) != "trailwatch.alerts/0@0" {
		t.Fatalf("parked[0] %+v", p0)
	}
	if header(p1, HeaderParkReason) != ParkExhausted || header(p1, HeaderParkSink) != "failing" || header(p1, HeaderParkAttempts) != "4" ||
		header(p1, HeaderParkError) != "e4 last" {
		t.Fatalf("parked[1] %+v", p1.Headers)
	}
	if metric(t, f.reg, "trailwatch_respond_parked_total", "sink", "failing", "reason", ParkExhausted) != 1 {
		t.Fatal("parked metric")
	}
}

func TestResponderParksInvalidMessages(t *testing.T) {
	s := &scriptSink{name: "hook"}
	f := newRFix(t, RoutedSink{Sink: s})
	f.q.msgs = []kafka.Message{{Topic: "trailwatch.alerts", Offset: 5, Value: []byte("{not json")}, {Topic: "trailwatch.alerts", Offset: 6, Value: []byte(`{"id":""}`)}}
	f.run(t)
	if len(s.got) != 0 || len(f.q.parked) != 2 || header(f.q.parked[0], HeaderParkReason) != ParkInvalid || !slices.Equal(f.q.committed, []int64{5, 6}) {
		t.Fatalf("got %d parked %d committed %v", len(s.got), len(f.q.parked), f.q.committed)
	}
}

func TestResponderCircuitBreaker(t *testing.T) {
	var errs []error
	for i := 0; i < 3; i++ {
		errs = append(errs, errors.New("down"))
	}
	s := &scriptSink{name: "hook", errs: errs}
	f := newRFix(t, RoutedSink{Sink: s})
	f.r.o.Retry.MaxAttempts = 2
	a1 := testAlert("arn:aws:iam::111111111111:user/a", "IAMUser")
	a2 := testAlert("arn:aws:iam::111111111111:user/b", "IAMUser")
	// a1: 2 failures, parked. a2: third failure opens the breaker, then
	// the second attempt waits out the cooldown, goes half-open and succeeds.
	f.run(t, a1, a2)
	if len(s.got) != 4 || len(f.q.parked) != 1 {
		t.Fatalf("calls %d parked %d", len(s.got), len(f.q.parked))
	}
	if f.sleeps[len(f.sleeps)-1] != time.Minute {
		t.Fatalf("sleeps %v: the open breaker's cooldown was not waited", f.sleeps)
	}
	if metric(t, f.reg, "trailwatch_respond_circuit_breaker_state", "sink", "hook") != BreakerClosed {
		t.Fatal("breaker not closed again")
	}

	// While open, the sink is not called at all.
	b := newBreaker(1, time.Minute, nil)
	b.record(t0, false)
	if ok, wait := b.allow(t0.Add(10 * time.Second)); ok || wait != 50*time.Second {
		t.Fatalf("open breaker allowed (%v, %s)", ok, wait)
	}
	if ok, _ := b.allow(t0.Add(time.Minute)); !ok || b.current() != BreakerHalfOpen {
		t.Fatal("no half-open trial after cooldown")
	}
	b.record(t0.Add(time.Minute), false)
	if b.current() != BreakerOpen {
		t.Fatal("failed trial did not re-open")
	}
}

func TestResponderCancelMidDeliveryDoesNotCommit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &blockingSink{started: make(chan struct{})}
	q := &memQueue{msgs: []kafka.Message{{Topic: "t", Offset: 0, Value: testAlert("arn:aws:iam::111111111111:user/a", "IAMUser").AppendJSON(nil)}}}
	r, err := NewResponder(ResponderOptions{Source: q, Parked: q, Sinks: []RoutedSink{{Sink: s}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	<-s.started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(q.committed) != 0 || len(q.parked) != 0 {
		t.Fatalf("committed %v parked %d after cancel", q.committed, len(q.parked))
	}
}

type blockingSink struct{ started chan struct{} }

func (b *blockingSink) Name() string { return "blocking" }
func (b *blockingSink) Deliver(ctx context.Context, _ *detect.Alert) error {
	close(b.started)
	<-ctx.Done()
	return ctx.Err()
}

func TestMetricsLabelsAreFixed(t *testing.T) {
	s := &scriptSink{name: "hook", errs: []error{Permanent(errors.New("no"))}}
	f := newRFix(t, RoutedSink{Sink: s})
	f.run(t, testAlert("arn:aws:iam::111111111111:user/secret-name", "IAMUser"))
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "secret-name") || strings.Contains(l.GetValue(), "111111111111") {
					t.Fatalf("%s has label %s=%s", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}
