package kafka

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// Errors of range reads.
var (
	// ErrBadURL is wrapped by ParseURL errors.
	ErrBadURL = errors.New("bad kafka URL")
	// ErrUnreachable is wrapped when no broker of a range answered.
	ErrUnreachable = errors.New("kafka brokers unreachable")
)

// Range is a time range of one topic: kafka://BROKER[,BROKER...]/TOPIC?from=RFC3339&to=RFC3339.
// From zero means the start of the topic; To zero means up to the high
// watermark as of the start of the read.
type Range struct {
	Brokers  []string
	Topic    string
	From, To time.Time
}

// IsURL reports whether s is a kafka:// input.
func IsURL(s string) bool { return strings.HasPrefix(s, "kafka://") }

// ParseURL parses a kafka:// input.
func ParseURL(s string) (Range, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "kafka" {
		return Range{}, fmt.Errorf("%w %q: want kafka://BROKERS/TOPIC?from=RFC3339&to=RFC3339", ErrBadURL, s)
	}
	r := Range{Topic: strings.TrimPrefix(u.Path, "/")}
	for _, b := range strings.Split(u.Host, ",") {
		if b != "" {
			r.Brokers = append(r.Brokers, b)
		}
	}
	if len(r.Brokers) == 0 || r.Topic == "" || strings.Contains(r.Topic, "/") {
		return Range{}, fmt.Errorf("%w %q: want kafka://BROKERS/TOPIC", ErrBadURL, s)
	}
	q := u.Query()
	for k := range q {
		if k != "from" && k != "to" {
			return Range{}, fmt.Errorf("%w %q: unknown parameter %q (want from, to)", ErrBadURL, s, k)
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &r.From}, {"to", &r.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Range{}, fmt.Errorf("%w %q: %s: want RFC 3339: %v", ErrBadURL, s, p.name, err)
			}
			*p.dst = t.UTC()
		}
	}
	if !r.From.IsZero() && !r.To.IsZero() && r.To.Before(r.From) {
		return Range{}, fmt.Errorf("%w %q: to is before from", ErrBadURL, s)
	}
	return r, nil
}

// ReadRange reads the messages of r.Topic whose timestamps lie in
// [r.From, r.To] and hands each to fn, on the calling goroutine. No consumer
// group is used and nothing is committed.
//
// Bounds per partition: reading starts at the first offset whose timestamp is
// at or after r.From (the broker's time index; the first offset when From is
// zero) and ends before the high watermark taken when ReadRange starts, or
// before the first offset stamped after r.To when that comes earlier (the
// broker's time index again): a partition stops at its first message after
// To, and messages produced during the read are never included. Producer
// timestamps need not be monotonic within a partition, so messages inside
// those offsets whose timestamp is still outside [From, To] are left out too.
//
// Order: partitions are read at once and merged by message timestamp, then
// partition, then offset. Each partition keeps its own offset order, so the
// same topic contents always give the same sequence, and a time-ordered
// replay keeps detection's watermark from marking one partition's events late
// because another partition ran ahead.
func ReadRange(ctx context.Context, r Range, conn *Conn, fn func(*kafka.Message) error) error {
	if len(r.Brokers) == 0 {
		return ErrNoBrokers
	}
	if conn == nil || conn.Dialer == nil {
		conn = &Conn{Dialer: &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}}
	}
	bounds, err := partitionBounds(ctx, r, conn.Dialer)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var streams []*partStream
	for _, b := range bounds {
		if b.start < 0 || b.start >= b.end {
			continue
		}
		s := &partStream{part: b.part, ch: make(chan kafka.Message, 256), errc: make(chan error, 1)}
		streams = append(streams, s)
		go s.read(ctx, r, conn.Dialer, b)
	}
	defer func() {
		cancel()
		for _, s := range streams {
			<-s.errc // wait for every reader to close
		}
	}()
	h := &mergeHeap{}
	for _, s := range streams {
		if err := s.next(ctx, r, h); err != nil {
			return err
		}
	}
	for h.Len() > 0 {
		s := heap.Pop(h).(*partStream)
		m := s.head
		if err := fn(&m); err != nil {
			return err
		}
		if err := s.next(ctx, r, h); err != nil {
			return err
		}
	}
	return nil
}

type bound struct {
	part       int
	start, end int64
}

// partitionBounds finds the partitions of r.Topic and the offsets to read
// from each, asking the brokers in the order given until one answers.
func partitionBounds(ctx context.Context, r Range, d *kafka.Dialer) ([]bound, error) {
	var parts []kafka.Partition
	var errs []error
	for _, b := range r.Brokers {
		ps, err := d.LookupPartitions(ctx, "tcp", b, r.Topic)
		if err == nil {
			parts = ps
			errs = nil
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	if errs != nil {
		return nil, fmt.Errorf("%w: topic %s via %s: %w", ErrUnreachable, r.Topic, strings.Join(r.Brokers, ","), errors.Join(errs...))
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	var out []bound
	for _, p := range parts {
		b, err := offsetsOf(ctx, r, d, p)
		if err != nil {
			return nil, fmt.Errorf("kafka offsets %s/%d: %w", r.Topic, p.ID, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// offsetsOf asks the partition's leader for the offsets bounding r. Each
// lookup is its own request: a broker refuses two lookups of one partition in
// one ListOffsets request.
func offsetsOf(ctx context.Context, r Range, d *kafka.Dialer, p kafka.Partition) (bound, error) {
	addr := fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port)
	c, err := d.DialPartition(ctx, "tcp", addr, p)
	if err != nil {
		return bound{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl) //nolint:errcheck
	}
	b := bound{part: p.ID}
	if b.start, b.end, err = c.ReadOffsets(); err != nil {
		return bound{}, err
	}
	if !r.From.IsZero() {
		// -1 when no message is stamped at or after From: nothing to read.
		if b.start, err = c.ReadOffset(r.From); err != nil {
			return bound{}, err
		}
	}
	if !r.To.IsZero() {
		// Timestamps have millisecond precision: the first offset stamped
		// after To is the first at or after To+1ms.
		after, err := c.ReadOffset(r.To.Truncate(time.Millisecond).Add(time.Millisecond))
		if err != nil {
			return bound{}, err
		}
		if after >= 0 && after < b.end {
			b.end = after
		}
	}
	return b, nil
}

// partStream reads one partition's [start, end) on its own goroutine. ch is
// closed at the end; errc gets exactly one value (nil or the error) when the
// goroutine has finished and closed its reader.
type partStream struct {
	part int
	ch   chan kafka.Message
	errc chan error
	err  error // the error received from errc, once ch is closed
	head kafka.Message
	done bool
}

func (s *partStream) read(ctx context.Context, r Range, d *kafka.Dialer, b bound) {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: r.Brokers, Topic: r.Topic, Partition: b.part, Dialer: d,
		MaxBytes: 1e6, MaxWait: 500 * time.Millisecond,
	})
	err := func() error {
		if err := rd.SetOffset(b.start); err != nil {
			return err
		}
		for {
			m, err := rd.FetchMessage(ctx)
			if err != nil {
				return err
			}
			if m.Offset >= b.end { // gaps (compaction, control records) can skip past end
				return nil
			}
			select {
			case s.ch <- m:
			case <-ctx.Done():
				return ctx.Err()
			}
			if m.Offset+1 >= b.end {
				return nil
			}
		}
	}()
	rd.Close()
	close(s.ch)
	if err != nil {
		err = fmt.Errorf("kafka read %s/%d: %w", r.Topic, b.part, err)
	}
	s.errc <- err
}

// next takes the stream's next message in range and pushes the stream on h,
// or leaves it off when the partition is done.
func (s *partStream) next(ctx context.Context, r Range, h *mergeHeap) error {
	for {
		select {
		case m, ok := <-s.ch:
			if !ok {
				s.done = true
				s.err = <-s.errc
				s.errc <- s.err // for the deferred wait in ReadRange
				return s.err
			}
			if (!r.From.IsZero() && m.Time.Before(r.From)) || (!r.To.IsZero() && m.Time.After(r.To)) {
				continue
			}
			s.head = m
			heap.Push(h, s)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// mergeHeap orders partition heads by message time, partition, offset.
type mergeHeap []*partStream

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := &h[i].head, &h[j].head
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*partStream)) }
func (h *mergeHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
