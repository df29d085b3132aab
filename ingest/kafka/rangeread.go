package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// ErrBadURL is wrapped by ParseURL errors.
var ErrBadURL = errors.New("bad kafka URL")

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

// ReadRange reads every partition of r.Topic from the first offset whose
// message timestamp is at or after r.From up to the high watermark found at
// the start (or the first message after r.To), partition by partition in
// order, and hands each message to fn. No consumer group is used and
// nothing is committed.
func ReadRange(ctx context.Context, r Range, conn *Conn, fn func(*kafka.Message) error) error {
	if len(r.Brokers) == 0 {
		return ErrNoBrokers
	}
	if conn == nil {
		conn = &Conn{Dialer: &kafka.Dialer{Timeout: 10 * time.Second}, Transport: &kafka.Transport{}}
	}
	cl := &kafka.Client{Addr: kafka.TCP(r.Brokers...), Transport: conn.Transport, Timeout: 30 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.Topic}})
	if err != nil {
		return fmt.Errorf("kafka metadata %s: %w", r.Topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		if len(md.Topics) == 1 {
			return fmt.Errorf("kafka topic %s: %w", r.Topic, md.Topics[0].Error)
		}
		return fmt.Errorf("kafka topic %s: not found", r.Topic)
	}
	var parts []int
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
	}
	sort.Ints(parts)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		start := kafka.FirstOffsetOf(p)
		if !r.From.IsZero() {
			start = kafka.TimeOffsetOf(p, r.From)
		}
		req.Topics[r.Topic] = append(req.Topics[r.Topic], start)
	}
	startRes, err := cl.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka list offsets %s: %w", r.Topic, err)
	}
	endReq := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		endReq.Topics[r.Topic] = append(endReq.Topics[r.Topic], kafka.LastOffsetOf(p))
	}
	endRes, err := cl.ListOffsets(ctx, endReq)
	if err != nil {
		return fmt.Errorf("kafka list offsets %s: %w", r.Topic, err)
	}
	starts, ends := map[int]int64{}, map[int]int64{}
	for _, po := range startRes.Topics[r.Topic] {
		if po.Error != nil {
			return fmt.Errorf("kafka offsets %s/%d: %w", r.Topic, po.Partition, po.Error)
		}
		starts[po.Partition] = po.FirstOffset
		if !r.From.IsZero() {
			starts[po.Partition] = offsetForTime(po)
		}
	}
	for _, po := range endRes.Topics[r.Topic] {
		if po.Error != nil {
			return fmt.Errorf("kafka offsets %s/%d: %w", r.Topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	for _, p := range parts {
		start, end := starts[p], ends[p]
		if start < 0 || start >= end {
			continue
		}
		if err := readPartition(ctx, r, conn, p, start, end, fn); err != nil {
			return err
		}
	}
	return nil
}

// offsetForTime picks the offset a timestamp lookup found; -1 (none at or
// after the time) means nothing to read.
func offsetForTime(po kafka.PartitionOffsets) int64 {
	for off := range po.Offsets {
		return off // one lookup, one answer
	}
	return -1
}

func readPartition(ctx context.Context, r Range, conn *Conn, p int, start, end int64, fn func(*kafka.Message) error) error {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: r.Brokers, Topic: r.Topic, Partition: p, Dialer: conn.Dialer,
		MaxBytes: 1e6, MaxWait: 500 * time.Millisecond,
	})
	defer rd.Close()
	if err := rd.SetOffset(start); err != nil {
		return err
	}
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka read %s/%d: %w", r.Topic, p, err)
		}
		if !r.To.IsZero() && m.Time.After(r.To) {
			return nil
		}
		if err := fn(&m); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}
