package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ConsumerOptions configure a Consumer. Zero durations get kafka-go's
// defaults except MaxWait (1s, so that shutdown is quick).
type ConsumerOptions struct {
	Brokers           []string
	GroupID           string
	Topics            []string
	Conn              *Conn
	MinBytes          int   // default 1
	MaxBytes          int   // per fetch; default 1 MB (faster than larger fetches)
	StartOffset       int64 // for a new group: kafka.FirstOffset (default) or kafka.LastOffset
	MaxWait           time.Duration
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration
	Logger            *zap.Logger
	Metrics           *Metrics
}

// Fetched is one message with the time it was fetched and the generation of
// its reader when it was (see Consumer.Generation).
type Fetched struct {
	Msg        kafka.Message
	At         time.Time
	Generation int64
}

// Consumer fetches every input topic into one channel, through one
// consumer-group Reader per topic, and commits only what it is told.
type Consumer struct {
	o       ConsumerOptions
	readers map[string]*kafka.Reader
	topics  []string
	gens    map[string]*atomic.Int64 // generations joined per topic, from the reader's stats
	statsMu sync.Mutex
}

// NewConsumer validates o and creates the readers (no connection is made yet).
func NewConsumer(o ConsumerOptions) (*Consumer, error) {
	if len(o.Brokers) == 0 {
		return nil, ErrNoBrokers
	}
	if o.GroupID == "" || len(o.Topics) == 0 {
		return nil, errors.New("kafka consumer: group id and at least one topic are required")
	}
	if o.Conn == nil {
		o.Conn = &Conn{Dialer: &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}, Transport: &kafka.Transport{}}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1e6
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	if o.StartOffset == 0 {
		o.StartOffset = kafka.FirstOffset
	}
	c := &Consumer{o: o, readers: map[string]*kafka.Reader{}, gens: map[string]*atomic.Int64{}}
	for _, t := range o.Topics {
		if _, dup := c.readers[t]; dup {
			return nil, fmt.Errorf("kafka consumer: topic %q listed twice", t)
		}
		log := o.Logger.With(zap.String("topic", t))
		c.readers[t] = kafka.NewReader(kafka.ReaderConfig{
			Brokers:           o.Brokers,
			GroupID:           o.GroupID,
			Topic:             t,
			Dialer:            o.Conn.Dialer,
			MinBytes:          max(o.MinBytes, 1),
			MaxBytes:          o.MaxBytes,
			MaxWait:           o.MaxWait,
			StartOffset:       o.StartOffset,
			HeartbeatInterval: o.HeartbeatInterval,
			SessionTimeout:    o.SessionTimeout,
			RebalanceTimeout:  o.RebalanceTimeout,
			JoinGroupBackoff:  o.JoinGroupBackoff,
			ReadBackoffMin:    100 * time.Millisecond,
			ReadBackoffMax:    5 * time.Second,
			CommitInterval:    0, // synchronous: Commit reports the broker's answer
			ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
				o.Metrics.FetchErrors.WithLabelValues(t).Inc()
				log.Debug("kafka reader", zap.String("error", fmt.Sprintf(msg, args...)))
			}),
		})
		c.topics = append(c.topics, t)
		c.gens[t] = &atomic.Int64{}
	}
	return c, nil
}

// Generation returns how many consumer-group generations the topic's reader
// has joined. A message fetched in one generation must not have its offset
// committed in a later one: its partition may belong to someone else by then.
func (c *Consumer) Generation(topic string) int64 {
	c.pollStats()
	if g := c.gens[topic]; g != nil {
		return g.Load()
	}
	return 0
}

func (c *Consumer) pollStats() {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	for t, r := range c.readers {
		if n := r.Stats().Rebalances; n > 0 {
			c.gens[t].Add(n)
			c.o.Metrics.Rebalances.WithLabelValues(t).Add(float64(n))
		}
	}
}

// Run fetches from every topic into out until ctx is done, then returns
// ctx.Err(). It never closes out. Fetch errors are counted and retried with
// backoff; a message is sent with the reader's generation as of its fetch.
func (c *Consumer) Run(ctx context.Context, out chan<- Fetched) error {
	var wg sync.WaitGroup
	for _, t := range c.topics {
		r := c.readers[t]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.fetchLoop(ctx, t, r, out)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (c *Consumer) fetchLoop(ctx context.Context, topic string, r *kafka.Reader, out chan<- Fetched) {
	m := c.o.Metrics
	fetched, bytes := m.Fetched.WithLabelValues(topic), m.FetchedBytes.WithLabelValues(topic)
	backoff := 100 * time.Millisecond
	lastPoll := time.Time{}
	for {
		msg, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.FetchErrors.WithLabelValues(topic).Inc()
			c.o.Logger.Warn("fetch failed; retrying", zap.String("topic", topic), zap.Duration("backoff", backoff), zap.Error(err))
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		now := time.Now()
		if now.Sub(lastPoll) > 100*time.Millisecond {
			c.pollStats()
			lastPoll = now
		}
		fetched.Inc()
		bytes.Add(float64(len(msg.Value)))
		if msg.HighWaterMark > 0 {
			m.Lag.WithLabelValues(topic, partLabel(msg.Partition)).Set(float64(max(msg.HighWaterMark-msg.Offset-1, 0)))
		}
		select {
		case out <- Fetched{Msg: msg, At: now, Generation: c.gens[topic].Load()}:
		case <-ctx.Done():
			return
		}
	}
}

// Commit commits offsets (the next offset to read per partition). Offsets
// of a topic whose reader changed generation since gen was taken are not
// committed (counted as skipped_rebalance): the messages will be
// re-delivered, never lost.
func (c *Consumer) Commit(ctx context.Context, offsets *Offsets) error {
	var errs []error
	for _, t := range c.topics {
		parts := offsets.byTopic[t]
		if len(parts) == 0 {
			continue
		}
		if gen := offsets.gen[t]; gen != c.Generation(t) {
			c.o.Metrics.Commits.WithLabelValues("skipped_rebalance").Inc()
			c.o.Logger.Info("rebalance since checkpoint; not committing its offsets", zap.String("topic", t))
			continue
		}
		msgs := make([]kafka.Message, 0, len(parts))
		for p, next := range parts {
			msgs = append(msgs, kafka.Message{Topic: t, Partition: p, Offset: next - 1})
		}
		if err := c.readers[t].CommitMessages(ctx, msgs...); err != nil {
			c.o.Metrics.Commits.WithLabelValues("error").Inc()
			errs = append(errs, fmt.Errorf("commit %s: %w", t, err))
			continue
		}
		c.o.Metrics.Commits.WithLabelValues("ok").Inc()
	}
	return errors.Join(errs...)
}

// Close closes the readers (leaving the group); it waits up to MaxWait.
func (c *Consumer) Close() error {
	var errs []error
	for _, t := range c.topics {
		if err := c.readers[t].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Offsets tracks, per topic and partition, the next offset after the last
// message processed, with the generation the messages were fetched in. The
// service processes a partition's messages in order on one goroutine, so
// "highest processed + 1" is the contiguous done mark. Not safe for
// concurrent use.
type Offsets struct {
	byTopic map[string]map[int]int64
	gen     map[string]int64
}

// NewOffsets returns an empty tracker.
func NewOffsets() *Offsets {
	return &Offsets{byTopic: map[string]map[int]int64{}, gen: map[string]int64{}}
}

// Done records that f has been processed. A message from a newer
// generation drops what was tracked for its topic in an older one.
func (o *Offsets) Done(f *Fetched) {
	t := f.Msg.Topic
	parts := o.byTopic[t]
	if parts == nil || o.gen[t] != f.Generation {
		if parts != nil && o.gen[t] > f.Generation {
			return // a straggler from an older generation: never commit it
		}
		parts = map[int]int64{}
		o.byTopic[t] = parts
		o.gen[t] = f.Generation
	}
	if next := f.Msg.Offset + 1; next > parts[f.Msg.Partition] {
		parts[f.Msg.Partition] = next
	}
}

// Len returns the number of partitions tracked.
func (o *Offsets) Len() int {
	n := 0
	for _, p := range o.byTopic {
		n += len(p)
	}
	return n
}

// Next returns the tracked next offset of a partition.
func (o *Offsets) Next(topic string, partition int) (int64, bool) {
	n, ok := o.byTopic[topic][partition]
	return n, ok
}

// Take returns the tracked offsets and starts afresh.
func (o *Offsets) Take() *Offsets {
	out := &Offsets{byTopic: o.byTopic, gen: o.gen}
	o.byTopic = map[string]map[int]int64{}
	o.gen = map[string]int64{}
	for t, g := range out.gen {
		o.gen[t] = g
	}
	return out
}
