package kafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// MessageWriter is the part of *kafka.Writer the Producer uses.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ MessageWriter = (*kafka.Writer)(nil)

// ErrProducerClosed is returned by Enqueue after CloseInput.
var ErrProducerClosed = errors.New("kafka producer: closed")

// ProducerOptions configure a Producer. Zero values get defaults.
type ProducerOptions struct {
	Writer     MessageWriter
	Capacity   int           // records enqueued and not yet written; default 4096
	MaxBatch   int           // records per write; default 512
	BackoffMin time.Duration // first retry delay; default 100ms
	BackoffMax time.Duration // retry delay cap; default 5s
	Logger     *zap.Logger
	Metrics    *Metrics
	// OnAck, if set, is called from Run after each acknowledged write, with
	// the records written (valid only during the call) and the time of the ack.
	OnAck func(msgs []kafka.Message, at time.Time)
}

// Producer is an ordered outbox; see the package documentation.
type Producer struct {
	o       ProducerOptions
	mu      sync.Mutex // orders sequence numbers with the queue
	q       chan kafka.Message
	seq     uint64 // enqueued, under mu
	closed  bool
	acked   atomic.Uint64
	healthy atomic.Bool

	ackMu sync.Mutex
	ackCh chan struct{} // closed and replaced at every ack
}

// NewWriter returns a kafka-go Writer for the Producer: every replica must
// acknowledge (RequiredAcks all), keys are partitioned like the Java client
// (murmur2), and the Producer, not the Writer, owns retries beyond a few.
func NewWriter(brokers []string, conn *Conn) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  3,
		BatchSize:    512,
		BatchBytes:   512 << 10, // below the broker's default message.max.bytes with overhead
		BatchTimeout: 2 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		Transport:    conn.Transport,
	}
}

// NewProducer returns a producer writing with o.Writer; call Run.
func NewProducer(o ProducerOptions) *Producer {
	if o.Capacity <= 0 {
		o.Capacity = 4096
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(5*time.Second, o.BackoffMin)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	p := &Producer{o: o, q: make(chan kafka.Message, o.Capacity), ackCh: make(chan struct{})}
	p.healthy.Store(true)
	return p
}

// Enqueue adds msg to the outbox and returns its sequence number (1, 2, ...).
// It blocks while the outbox is full, until ctx is done.
func (p *Producer) Enqueue(ctx context.Context, msg kafka.Message) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrProducerClosed
	}
	select {
	case p.q <- msg:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	p.seq++
	p.o.Metrics.OutboxDepth.Inc()
	return p.seq, nil
}

// Enqueued returns the sequence number of the last record enqueued.
func (p *Producer) Enqueued() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// Acked returns n such that records 1..n have all been acknowledged.
func (p *Producer) Acked() uint64 { return p.acked.Load() }

// Healthy reports whether the last write attempt succeeded.
func (p *Producer) Healthy() bool { return p.healthy.Load() }

// WaitAcked returns when every record up to seq is acknowledged, or ctx is done.
func (p *Producer) WaitAcked(ctx context.Context, seq uint64) error {
	for {
		p.ackMu.Lock()
		ch := p.ackCh
		p.ackMu.Unlock()
		if p.acked.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CloseInput stops accepting records; Run returns once the rest is written.
// It is idempotent.
func (p *Producer) CloseInput() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.q)
	}
}

// Run writes the outbox in order until CloseInput has been called and
// everything is acknowledged (nil), or ctx is done (ctx.Err(); records not
// acknowledged stay unacknowledged, so the offsets behind them are never
// committed).
func (p *Producer) Run(ctx context.Context) error {
	batch := make([]kafka.Message, 0, p.o.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case m, ok := <-p.q:
			if !ok {
				return nil
			}
			batch = append(batch, m)
		case <-ctx.Done():
			return ctx.Err()
		}
	fill:
		for len(batch) < p.o.MaxBatch {
			select {
			case m, ok := <-p.q:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if err := p.write(ctx, batch); err != nil {
			return err
		}
	}
}

// write writes batch until every record is acknowledged, retrying what
// failed with exponential backoff.
func (p *Producer) write(ctx context.Context, batch []kafka.Message) error {
	todo := batch
	backoff := p.o.BackoffMin
	for {
		err := p.o.Writer.WriteMessages(ctx, todo...)
		if err == nil {
			p.healthy.Store(true)
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.healthy.Store(false)
		p.o.Metrics.ProduceRetries.Inc()
		var we kafka.WriteErrors
		if errors.As(err, &we) && len(we) == len(todo) {
			var failed []kafka.Message
			for i, e := range we {
				if e != nil {
					failed = append(failed, todo[i])
				}
			}
			todo = failed
		}
		p.o.Logger.Warn("writing alerts or dead letters failed; retrying", zap.Int("records", len(todo)),
			zap.Duration("backoff", backoff), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(backoff*2, p.o.BackoffMax)
		if len(todo) == 0 {
			break
		}
	}
	now := time.Now()
	for i := range batch {
		p.o.Metrics.Produced.WithLabelValues(batch[i].Topic).Inc()
	}
	p.o.Metrics.OutboxDepth.Sub(float64(len(batch)))
	if p.o.OnAck != nil {
		p.o.OnAck(batch, now)
	}
	p.acked.Add(uint64(len(batch)))
	p.ackMu.Lock()
	close(p.ackCh)
	p.ackCh = make(chan struct{})
	p.ackMu.Unlock()
	return nil
}
