package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// ExplicitBalancer sends messages of the listed topics to the partition set
// in Message.Partition (the state changelog is co-partitioned with the
// events topic: state of events partition p goes to changelog partition p)
// and every other message through Fallback (murmur2 when nil).
type ExplicitBalancer struct {
	Topics   map[string]bool
	Fallback kafka.Balancer
}

var _ kafka.Balancer = (*ExplicitBalancer)(nil)

// Balance implements kafka.Balancer.
func (b *ExplicitBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if b.Topics[msg.Topic] {
		for _, p := range partitions {
			if p == msg.Partition {
				return p
			}
		}
		// The topic has fewer partitions than the caller thinks: never
		// guess, the caller checked the counts at start (EnsureTopics). The
		// write then fails loudly on a partition that does not exist.
		return msg.Partition
	}
	if b.Fallback == nil {
		b.Fallback = &kafka.Murmur2Balancer{}
	}
	return b.Fallback.Balance(msg, partitions...)
}

// TopicSpec is a topic the service needs.
type TopicSpec struct {
	Name       string
	Partitions int
	// Replication is the replication factor for a topic created here;
	// 0 means the broker's default.
	Replication int
	// Configs are topic configs for a topic created here, such as
	// cleanup.policy=compact.
	Configs map[string]string
}

// ErrPartitionMismatch is returned by EnsureTopics when an existing topic
// does not have the partition count the service needs.
var ErrPartitionMismatch = errors.New("kafka: topic has the wrong number of partitions")

// EnsureTopics creates the topics that do not exist yet and checks that every
// one has the partitions asked for. Existing topics are never altered: a
// partition count that differs is an error (changing it would move
// principals between partitions and strand their state).
func EnsureTopics(ctx context.Context, brokers []string, conn *Conn, specs []TopicSpec) error {
	if len(brokers) == 0 {
		return ErrNoBrokers
	}
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: conn.Transport, Timeout: 10 * time.Second}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	have, err := partitionCounts(ctx, cl, names)
	if err != nil {
		return err
	}
	var create []kafka.TopicConfig
	for _, s := range specs {
		if _, ok := have[s.Name]; ok {
			continue
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: -1}
		if s.Replication > 0 {
			tc.ReplicationFactor = s.Replication
		}
		keys := make([]string, 0, len(s.Configs))
		for k := range s.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		create = append(create, tc)
	}
	if len(create) > 0 {
		res, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
		if err != nil {
			return fmt.Errorf("kafka create topics: %w", err)
		}
		for name, e := range res.Errors {
			if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
				return fmt.Errorf("kafka create topic %s: %w", name, e)
			}
		}
		// Metadata can lag creation by a moment.
		for try := 0; ; try++ {
			if have, err = partitionCounts(ctx, cl, names); err == nil && len(have) == len(specs) {
				break
			}
			if try == 50 {
				return fmt.Errorf("kafka: created topics not visible in metadata: %v", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	var errs []error
	for _, s := range specs {
		if n := have[s.Name]; n != s.Partitions {
			errs = append(errs, fmt.Errorf("%w: %s has %d, the service needs %d", ErrPartitionMismatch, s.Name, n, s.Partitions))
		}
	}
	return errors.Join(errs...)
}

// partitionCounts returns the partition count of each topic that exists.
func partitionCounts(ctx context.Context, cl *kafka.Client, topics []string) (map[string]int, error) {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", err)
	}
	out := map[string]int{}
	for _, t := range md.Topics {
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("kafka metadata %s: %w", t.Name, t.Error)
		}
		out[t.Name] = len(t.Partitions)
	}
	return out, nil
}

// PartitionCount returns the number of partitions of topic.
func PartitionCount(ctx context.Context, brokers []string, conn *Conn, topic string) (int, error) {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: conn.Transport, Timeout: 10 * time.Second}
	have, err := partitionCounts(ctx, cl, []string{topic})
	if err != nil {
		return 0, err
	}
	n, ok := have[topic]
	if !ok {
		return 0, fmt.Errorf("kafka: topic %s does not exist", topic)
	}
	return n, nil
}

// PartitionBounds returns the first offset and the high watermark of one
// partition, asking its leader.
func PartitionBounds(ctx context.Context, brokers []string, d *kafka.Dialer, topic string, partition int) (first, end int64, err error) {
	var errs []error
	for _, b := range brokers {
		c, err := d.DialLeader(ctx, "tcp", b, topic, partition)
		if err != nil {
			if ctx.Err() != nil {
				return 0, 0, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl) //nolint:errcheck
		} else {
			c.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
		}
		first, end, err = c.ReadOffsets()
		c.Close()
		if err == nil {
			return first, end, nil
		}
		errs = append(errs, err)
	}
	return 0, 0, fmt.Errorf("%w: %s/%d via %s: %w", ErrUnreachable, topic, partition, strings.Join(brokers, ","), errors.Join(errs...))
}

// ReadPartition reads one partition from offset from (kafka.FirstOffset for
// the start of the log) up to its high watermark as of the call, calling fn
// for each message in order, and returns that high watermark. Messages
// written during the read are not included. Gaps (compaction, control
// records) are fine. The changelog restore reads with it.
func ReadPartition(ctx context.Context, brokers []string, d *kafka.Dialer, topic string, partition int, from int64,
	fn func(*kafka.Message) error) (end int64, err error) {
	first, end, err := PartitionBounds(ctx, brokers, d, topic, partition)
	if err != nil {
		return 0, err
	}
	if from < first {
		from = first // FirstOffset, or compacted/deleted past from
	}
	if from >= end {
		return end, nil
	}
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: partition, Dialer: d,
		MaxBytes: 1e6, MaxWait: 200 * time.Millisecond,
	})
	defer rd.Close()
	if err := rd.SetOffset(from); err != nil {
		return 0, err
	}
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return 0, fmt.Errorf("kafka read %s/%d: %w", topic, partition, err)
		}
		if m.Offset >= end {
			return end, nil
		}
		if err := fn(&m); err != nil {
			return 0, err
		}
		if m.Offset+1 >= end {
			return end, nil
		}
	}
}
