package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/detect"
)

// Parked message headers. A parked message carries the original key and
// value, so re-driving it is producing it back to the alerts topic (or
// straight to the one sink named in HeaderParkSink).
const (
	HeaderParkReason   = "trailwatch-park-reason" // ParkRejected, ParkExhausted, ParkInvalid
	HeaderParkSink     = "trailwatch-park-sink"   // the sink that did not accept it ("" for invalid)
	HeaderParkError    = "trailwatch-park-error"  // the last error, at most 1 KiB
	HeaderParkAttempts = "trailwatch-park-attempts"
	HeaderParkSource   = "trailwatch-park-source" // topic/partition@offset of the alert
	HeaderParkAlertID  = "trailwatch-alert-id"
)

// alertSource is the consumer side: *kafka.Reader with a GroupID.
type alertSource interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// messageWriter is the producer side: *kafka.Writer.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// ResponderOptions configure a Responder. Zero values take defaults.
type ResponderOptions struct {
	Source alertSource   // required for Run; not used by Dispatch
	Parked messageWriter // required: where alerts go that a sink did not accept
	// ParkedTopic is set on every parked message; leave it empty when the
	// writer has its own Topic.
	ParkedTopic string
	Sinks       []RoutedSink
	Retry       RetryConfig // default Defaults().Retry
	Breaker     BreakerConf // default Defaults().Breaker
	Metrics     *Metrics    // default unregistered
	Logger      *zap.Logger // default zap.NewNop

	// Now, Sleep and Jitter are the clock: tests replace them so that no
	// test sleeps. Sleep returns ctx.Err() if ctx ends first; Jitter
	// returns a uniform draw in [0, 1).
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Jitter func() float64
}

// Responder consumes alerts and delivers each to the sinks its routes
// select, committing the offset only when every one of them accepted it or
// the alert was parked.
type Responder struct {
	o        ResponderOptions
	breakers []*breaker
}

// NewResponder checks the options and returns a Responder.
func NewResponder(o ResponderOptions) (*Responder, error) {
	d := Defaults()
	if o.Retry == (RetryConfig{}) {
		o.Retry = d.Retry
	}
	if o.Breaker == (BreakerConf{}) {
		o.Breaker = d.Breaker
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Jitter == nil {
		o.Jitter = defaultJitter
	}
	if o.Parked == nil {
		return nil, errors.New("responder: a parked-topic writer is required")
	}
	r := &Responder{o: o}
	for _, s := range o.Sinks {
		g := o.Metrics.Breaker.WithLabelValues(s.Sink.Name())
		r.breakers = append(r.breakers, newBreaker(o.Breaker.FailureThreshold, o.Breaker.Cooldown, func(st int) { g.Set(float64(st)) }))
	}
	return r, nil
}

// Run fetches, dispatches and commits until ctx is cancelled, then returns
// nil; an alert in flight at that moment is not committed and will be
// delivered again after a restart. It returns an error only when a commit
// fails for another reason.
func (r *Responder) Run(ctx context.Context) error {
	if r.o.Source == nil {
		return errors.New("responder: no source")
	}
	failures := 0
	for {
		m, err := r.o.Source.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			r.o.Logger.Warn("fetch alerts", zap.Error(err))
			if r.o.Sleep(ctx, r.backoff(min(failures, 10))) != nil {
				return nil
			}
			continue
		}
		failures = 0
		if err := r.handle(ctx, m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// The effects are durable (delivered or parked): commit even if
		// shutdown began meanwhile, so a clean stop does not redeliver.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = r.o.Source.CommitMessages(cctx, m)
		cancel()
		if err != nil {
			return fmt.Errorf("responder: commit %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
		}
		r.o.Metrics.Committed.Inc()
	}
}

// handle delivers one message or parks it; it returns an error only when
// ctx ended first (nothing may then be committed).
func (r *Responder) handle(ctx context.Context, m kafka.Message) error {
	var a detect.Alert
	if err := json.Unmarshal(m.Value, &a); err != nil || a.ID == "" || a.Principal == "" {
		if err == nil {
			err = errors.New("alert without id or principal")
		}
		r.o.Logger.Error("undecodable alert parked", zap.String("source", source(m)), zap.Error(err))
		return r.park(ctx, m, "", ParkInvalid, err, 0)
	}
	for _, f := range r.Dispatch(ctx, &a) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.park(ctx, m, f.Sink, f.Reason, f.Err, f.Attempts); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Failure is a sink that did not accept an alert.
type Failure struct {
	Sink     string
	Reason   string // ParkRejected or ParkExhausted
	Err      error
	Attempts int
}

// Dispatch delivers a to every sink whose route selects it, with retries,
// and returns the sinks that did not accept it. It is the Responder
// without Kafka: replay uses it directly. When ctx ends, the remaining
// sinks are not tried and the caller must not treat the alert as handled.
func (r *Responder) Dispatch(ctx context.Context, a *detect.Alert) []Failure {
	var out []Failure
	for i, s := range r.o.Sinks {
		if !s.Route.Match(a) {
			continue
		}
		if f := r.deliver(ctx, i, a); f != nil {
			if ctx.Err() != nil {
				return append(out, *f)
			}
			out = append(out, *f)
		}
	}
	return out
}

// deliver tries one sink within the retry budget.
func (r *Responder) deliver(ctx context.Context, i int, a *detect.Alert) *Failure {
	s, br, m := r.o.Sinks[i].Sink, r.breakers[i], r.o.Metrics
	name := s.Name()
	var err error
	for attempt := 1; ; attempt++ {
		var wait time.Duration
		if ok, open := br.allow(r.o.Now()); !ok {
			err, wait = ErrCircuitOpen, open
			m.Deliveries.WithLabelValues(name, DeliveryOpen).Inc()
		} else {
			start := r.o.Now()
			err = s.Deliver(ctx, a)
			m.Duration.WithLabelValues(name).Observe(r.o.Now().Sub(start).Seconds())
			if ctx.Err() != nil {
				return &Failure{Sink: name, Err: ctx.Err(), Attempts: attempt}
			}
			if err == nil {
				br.record(r.o.Now(), true)
				m.Deliveries.WithLabelValues(name, DeliveryOK).Inc()
				return nil
			}
			if errors.Is(err, ErrPermanent) {
				m.Deliveries.WithLabelValues(name, DeliveryRejected).Inc()
				r.o.Logger.Error("sink rejected alert", zap.String("sink", name), zap.String("alert_id", a.ID), zap.Error(err))
				return &Failure{Sink: name, Reason: ParkRejected, Err: err, Attempts: attempt}
			}
			br.record(r.o.Now(), false)
			wait = br.remaining(r.o.Now()) // just opened: the next try is the half-open trial
		}
		if attempt >= r.o.Retry.MaxAttempts {
			m.Deliveries.WithLabelValues(name, DeliveryExhaust).Inc()
			r.o.Logger.Error("delivery retries exhausted", zap.String("sink", name), zap.String("alert_id", a.ID), zap.Int("attempts", attempt), zap.Error(err))
			return &Failure{Sink: name, Reason: ParkExhausted, Err: err, Attempts: attempt}
		}
		if err != ErrCircuitOpen {
			m.Deliveries.WithLabelValues(name, DeliveryRetry).Inc()
		}
		m.Retries.WithLabelValues(name).Inc()
		d := r.backoff(attempt)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > 0 {
			d = min(ra.After, r.o.Retry.MaxRetryAfter)
		}
		d = max(d, wait)
		r.o.Logger.Warn("delivery failed, retrying", zap.String("sink", name), zap.String("alert_id", a.ID),
			zap.Int("attempt", attempt), zap.Duration("backoff", d), zap.Error(err))
		if r.o.Sleep(ctx, d) != nil {
			return &Failure{Sink: name, Err: ctx.Err(), Attempts: attempt}
		}
	}
}

// backoff is the pause after the n-th failed attempt: InitialBackoff
// doubled n-1 times, capped at MaxBackoff, jittered uniformly in [d/2, d)
// so that responders recovering together do not retry in lockstep.
func (r *Responder) backoff(n int) time.Duration {
	d := r.o.Retry.InitialBackoff
	for i := 1; i < n && d < r.o.Retry.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.o.Retry.MaxBackoff)
	return d/2 + time.Duration(r.o.Jitter()*float64(d/2))
}

// park writes the alert to the parked topic, retrying until it succeeds or
// ctx ends: parking is the last resort and must not lose the alert.
func (r *Responder) park(ctx context.Context, m kafka.Message, sink, reason string, cause error, attempts int) error {
	msg := kafka.Message{Topic: r.o.ParkedTopic, Key: m.Key, Value: m.Value}
	msg.Headers = append(msg.Headers, m.Headers...)
	errText := ""
	if cause != nil {
		errText = truncateRunes(cause.Error(), 1024)
	}
	msg.Headers = append(msg.Headers,
		kafka.Header{Key: HeaderParkReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderParkSink, Value: []byte(sink)},
		kafka.Header{Key: HeaderParkError, Value: []byte(errText)},
		kafka.Header{Key: HeaderParkAttempts, Value: []byte(strconv.Itoa(attempts))},
		kafka.Header{Key: HeaderParkSource, Value: []byte(source(m))},
	)
	var id struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Value, &id) == nil && id.ID != "" {
		msg.Headers = append(msg.Headers, kafka.Header{Key: HeaderParkAlertID, Value: []byte(id.ID)})
	}
	for n := 1; ; n++ {
		err := r.o.Parked.WriteMessages(ctx, msg)
		if err == nil {
			label := sink
			if label == "" {
				label = "none"
			}
			r.o.Metrics.Parked.WithLabelValues(label, reason).Inc()
			r.o.Logger.Warn("alert parked", zap.String("sink", sink), zap.String("reason", reason), zap.String("source", source(m)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.o.Logger.Error("park alert", zap.Error(err))
		if err := r.o.Sleep(ctx, r.backoff(min(n, 10))); err != nil {
			return err
		}
	}
}

func source(m kafka.Message) string {
	return m.Topic + "/" + strconv.Itoa(m.Partition) + "@" + strconv.FormatInt(m.Offset, 10)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
