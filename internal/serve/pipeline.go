package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/eventcodec"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/partition"
)

// checkpoint is a consistent cut: the offsets after every message processed
// before it, the outbox number of the last record those messages caused and
// the store as of then.
type checkpoint struct {
	seq      uint64
	offsets  *kafka.Offsets
	snapshot []byte // nil without state.path
	final    bool
}

// sink receives what the decoder makes of the message being processed.
type sink struct {
	s   *Service
	ctx context.Context
	msg *kafkago.Message
}

func (k *sink) Event(ev *ingest.Event) {
	s := k.s
	s.m.decoded.WithLabelValues(ev.Source.String()).Inc()
	if s.eventsTopic == "" {
		s.eng.Process(ev)
		s.dirty = true
		return
	}
	// Stage 1: repartition by principal. An event with no principal adds
	// to no baseline; stage 2 would ignore it.
	if ev.Principal.Key == "" {
		s.sm.noPrincipal.Inc()
		return
	}
	m := kafkago.Message{Topic: s.eventsTopic, Key: []byte(ev.Principal.Key), Value: eventcodec.Append(nil, ev)}
	if s.cfg.Scale.PartitionBy == partition.ByAccount {
		// Keyed by principal, placed by account (the writer's balancer
		// honours the partition for the events topic in this mode).
		m.Partition = partition.Of(partition.KeyOf(partition.ByAccount, ev.Principal.Key, ev.Principal.Account), s.cfg.Scale.Partitions)
	}
	s.enqueue(k.ctx, m)
	s.sm.produced.Inc()
	s.eventsOut.Add(1)
}

func (k *sink) Insight(*ingest.Event, []byte) { k.s.m.insights.Inc() }

func (k *sink) Reject(r *ingest.Reject) {
	s := k.s
	s.m.rejected.WithLabelValues(string(r.Reason)).Inc()
	var raw []byte
	if len(r.Raw) > 0 {
		raw = bytes.Clone(r.Raw)
	}
	dl := kafka.DeadLetter(s.cfg.Kafka.DeadLetterTopic, k.msg, r.Reason, r.Detail, r.Pos.Index, raw)
	s.enqueue(k.ctx, dl)
	s.m.deadLetters.WithLabelValues(string(r.Reason)).Inc()
}

func (k *sink) Skip(reason ingest.Reason, _ ingest.Position) {
	k.s.m.skipped.WithLabelValues(string(reason)).Inc()
}

// outboxCtx is the context records are enqueued with: cancelled only when
// the service gives up (abort or shutdown timeout), so that a full outbox
// applies backpressure rather than dropping.
func (s *Service) enqueue(ctx context.Context, m kafkago.Message) {
	m.WriterData = s.curFetch.Load()
	if _, err := s.prod.Enqueue(ctx, m); err != nil {
		// The record is lost to this process; never commit past it.
		if !s.poisoned.Swap(true) {
			s.log.Error("could not enqueue an alert or dead letter; no more offsets will be committed", zap.Error(err))
		}
	}
}

// emit is the engine's callback (one goroutine at a time).
func (s *Service) emit(a *detect.Alert) {
	s.observeAlert(a)
	s.enqueue(s.emitCtx, kafkago.Message{Topic: s.cfg.Kafka.AlertsTopic, Key: []byte(a.Principal), Value: a.AppendJSON(nil)})
}

// observeAlert stamps an alert's emission time, counts it and shows it to
// the OnAlert hook.
func (s *Service) observeAlert(a *detect.Alert) {
	now := time.Now()
	a.EmittedAt = now.UTC().Format(time.RFC3339Nano)
	if t, err := time.Parse(time.RFC3339Nano, a.DetectedAt); err == nil {
		s.m.eventToAlert.Observe(max(now.Sub(t).Seconds(), 0))
	}
	s.m.alerts.WithLabelValues(a.Metric).Inc()
	if s.o.OnAlert != nil {
		s.o.OnAlert(a)
	}
}

// onAck observes fetch-to-ack latency of acknowledged alerts.
func (s *Service) onAck(msgs []kafkago.Message, at time.Time) {
	for i := range msgs {
		if msgs[i].Topic != s.cfg.Kafka.AlertsTopic {
			continue
		}
		if n, ok := msgs[i].WriterData.(int64); ok && n > 0 {
			s.m.fetchToAck.Observe(max(at.Sub(time.Unix(0, n)).Seconds(), 0))
		}
	}
}

// pipeline runs the consumer, the sequencer, the committer and the producer
// until ctx is cancelled, then shuts them down in order.
func (s *Service) pipeline(ctx context.Context) error {
	if s.eventsTopic != "" {
		// Stage 1 places events by partition count: the topic must have
		// exactly scale.partitions partitions.
		spec := []kafka.TopicSpec{{Name: s.eventsTopic, Partitions: s.cfg.Scale.Partitions, Replication: s.cfg.Scale.Replication}}
		ensure := func(ctx context.Context) error {
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return kafka.EnsureTopics(c, s.cfg.Kafka.Brokers, s.conn, spec)
		}
		if ok, err := s.awaitTopics(ctx, "events topic", ensure); !ok {
			return err
		}
	}
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	defer stopFetch()
	// Enqueueing and writing go on through the shutdown; they are cut only
	// by an abort or the shutdown timeout.
	outCtx, stopOut := context.WithCancel(context.Background())
	defer stopOut()
	s.emitCtx = outCtx

	in := make(chan kafka.Fetched, 256)
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		s.cons.Run(fetchCtx, in) //nolint:errcheck // returns ctx.Err()
	}()
	prodDone := make(chan error, 1)
	go func() { prodDone <- s.prod.Run(outCtx) }()
	cps := make(chan checkpoint, 1)
	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		s.committer(outCtx, cps)
	}()

	s.running.Store(true)
	s.setReadyGauge()
	s.log.Info("serving", zap.Strings("inputs", s.cfg.Kafka.Inputs), zap.String("group", s.cfg.Kafka.GroupID),
		zap.String("alerts_topic", s.cfg.Kafka.AlertsTopic), zap.String("deadletter_topic", s.cfg.Kafka.DeadLetterTopic),
		zap.Int("principals_restored", s.storeLen()), zap.String("events_topic", s.eventsTopic))

	tick := time.NewTicker(s.cfg.Kafka.CommitInterval)
	defer tick.Stop()
	k := &sink{s: s, ctx: outCtx}
loop:
	for {
		var f kafka.Fetched
		select {
		case f = <-in:
		case <-tick.C:
			s.checkpoint(cps, false)
			continue
		case <-ctx.Done():
			break loop
		default:
			// Nothing waiting: let the workers finish what they have so an
			// alert is not held back by a half-full batch.
			if s.dirty {
				s.eng.Sync()
				s.dirty = false
			}
			select {
			case f = <-in:
			case <-tick.C:
				s.checkpoint(cps, false)
				continue
			case <-ctx.Done():
				break loop
			}
		}
		s.process(k, &f)
	}

	s.stopping.Store(true)
	s.setReadyGauge()
	if s.abort.Load() {
		stopFetch()
		stopOut()
		close(cps)
		<-consDone
		<-commitDone
		<-prodDone
		return nil
	}
	s.log.Info("shutting down: stop fetching, finish in-flight work, flush alerts, commit, snapshot")
	deadline := time.AfterFunc(s.cfg.Kafka.ShutdownTimeout, func() {
		s.log.Error("shutdown timeout: giving up on unacknowledged records; their offsets stay uncommitted")
		stopOut()
	})
	defer deadline.Stop()
	stopFetch()
	<-consDone
	for drained := false; !drained; {
		select {
		case f := <-in:
			s.process(k, &f)
		default:
			drained = true
		}
	}
	s.checkpoint(cps, true)
	close(cps)
	<-commitDone
	s.prod.CloseInput()
	err := <-prodDone
	if s.lastErr != nil {
		return s.lastErr
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("shutdown timeout: some alerts or dead letters were not acknowledged; their messages will be re-delivered")
	}
	return err
}

// process decodes one message and feeds its events to the engine.
func (s *Service) process(k *sink, f *kafka.Fetched) {
	s.curFetch.Store(f.At.UnixNano())
	k.msg = &f.Msg
	pos := ingest.Position{Name: f.Msg.Topic, Partition: int32(f.Msg.Partition), Offset: f.Msg.Offset}
	if err := s.dec.DecodeMessage(f.Msg.Value, pos, k); err != nil {
		// DecodeMessage reports record problems to the sink; an error here
		// stopped the message early.
		k.Reject(&ingest.Reject{Reason: ingest.ReasonReadError, Detail: err.Error(), Pos: pos})
	}
	s.m.messages.WithLabelValues(f.Msg.Topic).Inc()
	s.offsets.Done(f)
	s.processed.Add(1)
}

// checkpoint cuts a checkpoint and hands it to the committer. A periodic one
// is skipped while the committer is still busy with the previous one (the
// offsets carry over to the next); the final one waits.
func (s *Service) checkpoint(cps chan<- checkpoint, final bool) {
	if s.dirty {
		s.eng.Sync()
		s.dirty = false
	}
	if s.poisoned.Load() {
		return
	}
	if !final && len(cps) == cap(cps) {
		s.m.checkpoints.WithLabelValues("skipped_busy").Inc()
		return
	}
	if s.offsets.Len() == 0 && !final {
		return
	}
	cp := checkpoint{seq: s.prod.Enqueued(), final: final}
	if s.cfg.State.Path != "" {
		var buf bytes.Buffer
		if err := s.store.EncodeSnapshot(&buf); err != nil {
			s.m.checkpoints.WithLabelValues("error").Inc()
			s.log.Error("encode snapshot", zap.Error(err))
			return
		}
		cp.snapshot = buf.Bytes()
	}
	cp.offsets = s.offsets.Take()
	cps <- cp
}

// committer makes checkpoints durable in order: acks, snapshot, commit.
func (s *Service) committer(ctx context.Context, cps <-chan checkpoint) {
	for cp := range cps {
		if err := s.prod.WaitAcked(ctx, cp.seq); err != nil {
			s.m.checkpoints.WithLabelValues("error").Inc()
			continue // aborting: commit nothing more
		}
		if cp.snapshot != nil {
			if err := writeFileAtomic(s.cfg.State.Path, cp.snapshot); err != nil {
				s.m.checkpoints.WithLabelValues("error").Inc()
				s.log.Error("write snapshot; offsets not committed", zap.String("path", s.cfg.State.Path), zap.Error(err))
				if cp.final {
					s.lastErr = fmt.Errorf("save state: %w", err)
				}
				continue
			}
		}
		if cp.offsets.Len() > 0 {
			if err := s.cons.Commit(ctx, cp.offsets); err != nil {
				s.m.checkpoints.WithLabelValues("error").Inc()
				s.log.Warn("commit failed; the messages will be re-delivered", zap.Error(err))
				continue
			}
		}
		s.m.checkpoints.WithLabelValues("ok").Inc()
	}
}

func (s *Service) storeLen() int {
	if s.store == nil {
		return 0
	}
	return s.store.Len()
}

// awaitTopics runs ensure (create or check the internal topics) until it
// succeeds, once a second while the broker is not ready. It reports false
// when ctx ended first (err nil: a shutdown) or with a partition-count
// mismatch, which no retry can fix.
func (s *Service) awaitTopics(ctx context.Context, what string, ensure func(context.Context) error) (bool, error) {
	for {
		err := ensure(ctx)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, kafka.ErrPartitionMismatch):
			return false, err
		case ctx.Err() != nil:
			return false, nil
		}
		s.log.Warn(what+" not ready; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(time.Second):
		}
	}
}
