package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/eventcodec"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/config"
)

// detectStage is stage 2 of the scale-out topology: a consumer group over
// the events topic (or a prekeyed input) in which every assigned partition
// gets a task with its own detection engine and baseline store. A task
// restores its partition's state from the changelog (after the local
// snapshot, if any) before it processes anything, checkpoints it
// (alerts acknowledged, then changelog records acknowledged, then the
// offset committed) every kafka.commit_interval, and on revocation makes a
// final checkpoint and drops the state. See docs/scaling.md.
type detectStage struct {
	s      *Service
	cfg    config.Config
	log    *zap.Logger
	topic  string
	writer *kafkago.Writer
	prod   *kafka.Producer
	m      *scaleMetrics

	outCtx   context.Context
	poisoned atomic.Bool

	mu           sync.Mutex
	tasks        map[int]*partTask
	retired      detect.EngineStats // counters of engines already dropped
	retiredStore baseline.StoreStats
	generations  atomic.Int64
	consumedN    atomic.Int64 // messages of owned partitions processed
}

func newDetectStage(s *Service, m *scaleMetrics) *detectStage {
	cfg := s.cfg
	topic := cfg.Scale.EventsTopic
	if cfg.Scale.Prekeyed {
		topic = cfg.Kafka.Inputs[0]
	}
	d := &detectStage{s: s, cfg: cfg, log: s.log.Named("detect"), topic: topic, m: m, tasks: map[int]*partTask{}}
	d.writer = s.newWriter()
	d.prod = kafka.NewProducer(kafka.ProducerOptions{Writer: d.writer, Logger: d.log, Metrics: s.km, OnAck: s.onAck})
	return d
}

// stats sums the counters of every engine this stage runs and has run.
func (d *detectStage) stats() (detect.EngineStats, baseline.StoreStats) {
	d.mu.Lock()
	defer d.mu.Unlock()
	es, ss := d.retired, d.retiredStore
	for _, t := range d.tasks {
		es.Merge(t.eng.Stats())
		ss.Merge(t.store.Stats())
	}
	return es, ss
}

// Partitions returns the events partitions this instance owns now, sorted.
func (d *detectStage) partitions() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]int, 0, len(d.tasks))
	for p := range d.tasks {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// ensureTopics creates the events and state topics (or checks them).
func (d *detectStage) ensureTopics(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n := d.cfg.Scale.Partitions
	var specs []kafka.TopicSpec
	if d.cfg.Scale.Prekeyed {
		var err error
		if n, err = kafka.PartitionCount(c, d.cfg.Kafka.Brokers, d.s.conn, d.topic); err != nil {
			return err
		}
	} else {
		specs = append(specs, kafka.TopicSpec{Name: d.topic, Partitions: n, Replication: d.cfg.Scale.Replication})
	}
	specs = append(specs, d.cfg.StateTopicSpec(n))
	return kafka.EnsureTopics(c, d.cfg.Kafka.Brokers, d.s.conn, specs)
}

// run consumes until ctx is done, then ends the generation (every task
// makes its final checkpoint), leaves the group and drains the producer.
func (d *detectStage) run(ctx context.Context) error {
	outCtx, stopOut := context.WithCancel(context.Background())
	defer stopOut()
	d.outCtx = outCtx
	if ok, err := d.s.awaitTopics(ctx, "events and state topics", d.ensureTopics); !ok {
		return err
	}
	prodDone := make(chan error, 1)
	go func() { prodDone <- d.prod.Run(outCtx) }()

	k := d.cfg.Kafka
	start := kafkago.FirstOffset
	if k.StartOffset == "latest" {
		start = kafkago.LastOffset
	}
	gcfg := kafkago.ConsumerGroupConfig{
		ID: d.cfg.DetectGroup(), Brokers: k.Brokers, Dialer: d.s.conn.Dialer, Topics: []string{d.topic},
		HeartbeatInterval: k.HeartbeatInterval, SessionTimeout: k.SessionTimeout, RebalanceTimeout: k.RebalanceTimeout,
		StartOffset: start,
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			d.log.Debug("consumer group", zap.String("error", fmt.Sprintf(msg, args...)))
		}),
	}
	if d.s.o.JoinGroupBackoff > 0 {
		gcfg.JoinGroupBackoff = d.s.o.JoinGroupBackoff
	}
	group, err := kafkago.NewConsumerGroup(gcfg)
	if err != nil {
		d.prod.CloseInput()
		<-prodDone
		return fmt.Errorf("detect consumer group: %w", err)
	}
	d.s.running.Store(true)
	d.s.setReadyGauge()
	d.log.Info("detect stage consuming", zap.String("topic", d.topic), zap.String("group", gcfg.ID),
		zap.String("state_topic", d.cfg.Scale.StateTopic), zap.Bool("prekeyed", d.cfg.Scale.Prekeyed))
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				break
			}
			d.log.Info("consumer group generation ended", zap.Error(err))
			continue
		}
		d.generations.Add(1)
		d.m.rebalances.Inc()
		parts := gen.Assignments[d.topic]
		ids := make([]int, len(parts))
		for i, a := range parts {
			ids[i] = a.ID
		}
		slices.Sort(ids)
		d.log.Info("partitions assigned", zap.Int32("generation", gen.ID), zap.Ints("partitions", ids))
		for _, a := range parts {
			gen.Start(func(ctx context.Context) { d.runTask(ctx, gen, a) })
		}
	}
	// Shutdown: closing the group ends the generation; its tasks checkpoint
	// (acks, changelog, commit) before Close returns and the member leaves.
	d.s.stopping.Store(true)
	d.s.setReadyGauge()
	deadline := time.AfterFunc(k.ShutdownTimeout, func() {
		d.log.Error("shutdown timeout: giving up on unacknowledged records; their offsets stay uncommitted")
		stopOut()
	})
	defer deadline.Stop()
	group.Close() //nolint:errcheck
	d.prod.CloseInput()
	err = <-prodDone
	d.writer.Close() //nolint:errcheck
	if errors.Is(err, context.Canceled) {
		if d.s.abort.Load() {
			return nil
		}
		return errors.New("detect: shutdown timeout: some alerts or state records were not acknowledged; their events will be re-processed")
	}
	return err
}

func (d *detectStage) enqueue(m kafkago.Message) {
	if _, err := d.prod.Enqueue(d.outCtx, m); err != nil {
		if !d.poisoned.Swap(true) {
			d.log.Error("could not enqueue an alert or a state record; no more offsets will be committed", zap.Error(err))
		}
	}
}

// emit is every partition engine's alert callback (from worker goroutines).
func (d *detectStage) emit(a *detect.Alert) {
	d.s.observeAlert(a)
	d.enqueue(kafkago.Message{Topic: d.cfg.Kafka.AlertsTopic, Key: []byte(a.Principal), Value: a.AppendJSON(nil)})
}

// newEngine builds a partition's engine: one worker (the partitions are the
// parallelism), its own store.
func (d *detectStage) newEngine() (*detect.Engine, *baseline.Store, error) {
	st := baseline.New(d.cfg.BaselineOptions())
	dc := d.cfg.Detect
	dc.Parallelism = 1
	eng, err := detect.New(dc, st, d.emit, detect.WithLogger(d.log), detect.WithImmediateEmit())
	return eng, st, err
}

func (d *detectStage) register(t *partTask) {
	d.mu.Lock()
	d.tasks[t.p] = t
	d.mu.Unlock()
	d.m.owned.Inc()
}

func (d *detectStage) unregister(t *partTask) {
	d.mu.Lock()
	if d.tasks[t.p] == t {
		delete(d.tasks, t.p)
	}
	d.retired.Merge(t.eng.Stats())
	// Counters carry over; event time is the live partitions' only.
	d.retired.Watermark, d.retired.ClosedThrough = time.Time{}, time.Time{}
	// Counters carry over; what is tracked now is the live stores' only.
	st := t.store.Stats()
	st.Tracked, st.Open, st.Bytes = 0, 0, 0
	d.retiredStore.Merge(st)
	d.mu.Unlock()
	d.m.owned.Dec()
}

// runTask owns one partition for one generation.
func (d *detectStage) runTask(ctx context.Context, gen *kafkago.Generation, a kafkago.PartitionAssignment) {
	t := &partTask{d: d, p: a.ID, gen: gen, log: d.log.With(zap.Int("partition", a.ID))}
	for {
		err := t.restore(ctx, a.Offset)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		d.m.restoreErrors.Inc()
		t.log.Error("restore failed; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	d.register(t)
	defer d.unregister(t)
	t.consume(ctx, a.Offset)
}

// partTask is one owned partition: its engine, its position and its
// checkpoints.
type partTask struct {
	d     *detectStage
	p     int
	gen   *kafkago.Generation
	log   *zap.Logger
	eng   *detect.Engine
	store *baseline.Store
	dec   *decode.Decoder // prekeyed inputs only

	next      int64            // offset after the last message processed; -1 before any
	skip      map[string]int64 // principals whose restored state is newer than the start offset
	skipUntil int64            // no skip applies at or after this offset
	seen      rawSeen          // newest raw position applied per raw partition (not for prekeyed inputs)
	dirty     bool             // processed since the last checkpoint
	processed bool             // processed anything in this generation
	ev        ingest.Event
	intern    eventcodec.Interner
}

type taskCheckpoint struct {
	seq  uint64
	next int64
}

// consume processes the partition from the committed offset until ctx ends.
func (t *partTask) consume(ctx context.Context, committed int64) {
	d := t.d
	k := d.cfg.Kafka
	rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: k.Brokers, Topic: d.topic, Partition: t.p, Dialer: d.s.conn.Dialer,
		MinBytes: 1, MaxBytes: k.FetchMaxBytes, MaxWait: k.FetchMaxWait})
	defer rd.Close()
	start := committed
	if start < 0 {
		start = kafkago.FirstOffset
		if k.StartOffset == "latest" {
			start = kafkago.LastOffset
		}
	}
	t.next = max(committed, 0)
	if err := rd.SetOffset(start); err != nil {
		t.log.Error("set offset", zap.Error(err))
		return
	}
	fetchCtx, stopFetch := context.WithCancel(ctx)
	in := make(chan kafkago.Message, 256)
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		backoff := 100 * time.Millisecond
		for {
			m, err := rd.FetchMessage(fetchCtx)
			if err != nil {
				if fetchCtx.Err() != nil {
					return
				}
				t.log.Warn("fetch failed; retrying", zap.Duration("backoff", backoff), zap.Error(err))
				select {
				case <-fetchCtx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			select {
			case in <- m:
			case <-fetchCtx.Done():
				return
			}
		}
	}()
	cps := make(chan taskCheckpoint, 1)
	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		t.committer(cps)
	}()

	tick := time.NewTicker(k.CommitInterval)
	defer tick.Stop()
loop:
	for {
		var m kafkago.Message
		select {
		case m = <-in:
		case <-tick.C:
			t.checkpoint(cps, false)
			continue
		case <-ctx.Done():
			break loop
		default:
			if t.dirty {
				t.eng.Sync() // nothing waiting: release alerts of a half-full batch
			}
			select {
			case m = <-in:
			case <-tick.C:
				t.checkpoint(cps, false)
				continue
			case <-ctx.Done():
				break loop
			}
		}
		t.process(&m)
	}
	stopFetch()
	<-fetchDone
	if !d.s.abort.Load() {
		t.checkpoint(cps, true)
	}
	close(cps)
	<-commitDone
	if !d.s.abort.Load() && d.cfg.Scale.SnapshotDir != "" && t.processed {
		t.writeSnapshot()
	}
	t.eng.Close() //nolint:errcheck
	t.log.Info("partition released", zap.Int64("next_offset", t.next))
}

// process applies one message of the partition.
func (t *partTask) process(m *kafkago.Message) {
	d := t.d
	t.next = m.Offset + 1
	t.dirty, t.processed = true, true
	d.m.consumed.Inc()
	d.consumedN.Add(1)
	if t.dec != nil {
		pos := ingest.Position{Name: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
		sk := &taskSink{t: t, msg: m}
		if err := t.dec.DecodeMessage(m.Value, pos, sk); err != nil {
			sk.Reject(&ingest.Reject{Reason: ingest.ReasonReadError, Detail: err.Error(), Pos: pos})
		}
		d.s.m.messages.WithLabelValues(m.Topic).Inc()
		return
	}
	if err := eventcodec.DecodeInterned(m.Value, &t.ev, t.intern.Intern); err != nil {
		d.m.badEvents.Inc()
		d.enqueue(kafka.DeadLetter(d.cfg.Kafka.DeadLetterTopic, m, ingest.ReasonBadInternalEvent, err.Error(), 0, m.Value))
		d.s.m.deadLetters.WithLabelValues(string(ingest.ReasonBadInternalEvent)).Inc()
		return
	}
	if !t.seen.fresh(&t.ev.Pos) {
		// A copy stage 1 produced again after its group rebalanced.
		d.m.duplicates.Inc()
		t.eng.Observe(&t.ev)
		return
	}
	t.apply(&t.ev, m.Offset)
}

// apply hands an event to the engine, unless the restored state of its
// principal already holds it.
func (t *partTask) apply(ev *ingest.Event, offset int64) {
	if t.skip != nil {
		if offset >= t.skipUntil {
			t.skip = nil
		} else if upto, ok := t.skip[ev.Principal.Key]; ok && offset < upto {
			t.d.m.skipped.Inc()
			t.eng.Observe(ev)
			return
		}
	}
	t.eng.Process(ev)
}

// taskSink feeds decoded records of a prekeyed input to the task.
type taskSink struct {
	t   *partTask
	msg *kafkago.Message
}

func (k *taskSink) Event(ev *ingest.Event) {
	k.t.d.s.m.decoded.WithLabelValues(ev.Source.String()).Inc()
	k.t.apply(ev, k.msg.Offset)
}
func (k *taskSink) Insight(*ingest.Event, []byte) { k.t.d.s.m.insights.Inc() }
func (k *taskSink) Skip(reason ingest.Reason, _ ingest.Position) {
	k.t.d.s.m.skipped.WithLabelValues(string(reason)).Inc()
}
func (k *taskSink) Reject(r *ingest.Reject) {
	d := k.t.d
	d.s.m.rejected.WithLabelValues(string(r.Reason)).Inc()
	var raw []byte
	if len(r.Raw) > 0 {
		raw = append([]byte(nil), r.Raw...)
	}
	d.enqueue(kafka.DeadLetter(d.cfg.Kafka.DeadLetterTopic, k.msg, r.Reason, r.Detail, r.Pos.Index, raw))
	d.s.m.deadLetters.WithLabelValues(string(r.Reason)).Inc()
}

var _ ingest.Sink = (*taskSink)(nil)

// checkpoint writes the partition's changed state to the changelog after
// the alerts of everything processed were enqueued, and hands the offset to
// the committer, which commits it once all of that is acknowledged.
func (t *partTask) checkpoint(cps chan<- taskCheckpoint, final bool) {
	d := t.d
	if !t.dirty || d.poisoned.Load() {
		return
	}
	if !final && len(cps) == cap(cps) {
		d.s.m.checkpoints.WithLabelValues("skipped_busy").Inc()
		return
	}
	var n, bytes int
	// Changes syncs the engine first: every event so far applied, its
	// alerts enqueued before the state records.
	err := t.eng.Changes(func(key string, state []byte) {
		v := stateValue(t.next, state)
		n++
		bytes += len(v)
		d.enqueue(kafkago.Message{Topic: d.cfg.Scale.StateTopic, Partition: t.p, Key: stateKey(t.p, key), Value: v})
	})
	if err != nil {
		d.s.m.checkpoints.WithLabelValues("error").Inc()
		t.log.Error("state changes", zap.Error(err))
		return
	}
	if t.seen != nil {
		// After the principals: acknowledged, it implies they are.
		v := stateValue(t.next, t.seen.encode())
		n++
		bytes += len(v)
		d.enqueue(kafkago.Message{Topic: d.cfg.Scale.StateTopic, Partition: t.p, Key: positionsKey(t.p), Value: v})
	}
	d.m.changelogRecords.Add(float64(n))
	d.m.changelogBytes.Add(float64(bytes))
	t.dirty = false
	cps <- taskCheckpoint{seq: d.prod.Enqueued(), next: t.next}
}

// committer commits checkpoints once their records are acknowledged.
func (t *partTask) committer(cps <-chan taskCheckpoint) {
	d := t.d
	for cp := range cps {
		if err := d.prod.WaitAcked(d.outCtx, cp.seq); err != nil {
			d.s.m.checkpoints.WithLabelValues("error").Inc()
			continue
		}
		if d.s.abort.Load() || d.poisoned.Load() {
			continue
		}
		if err := t.gen.CommitOffsets(map[string]map[int]int64{d.topic: {t.p: cp.next}}); err != nil {
			d.s.m.checkpoints.WithLabelValues("error").Inc()
			t.log.Warn("commit failed; the events will be re-processed (state records carry their offset, so nothing counts twice)", zap.Error(err))
			continue
		}
		d.s.m.checkpoints.WithLabelValues("ok").Inc()
	}
}
