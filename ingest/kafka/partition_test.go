package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/internal/devbroker"
)

// TestEnsureTopicsAndExplicitPartitions creates a co-partitioned pair of
// topics, refuses a partition count that differs, writes through the
// ExplicitBalancer (explicit partition for the changelog, murmur2 for the
// rest) and reads one partition back up to its high watermark.
func TestEnsureTopicsAndExplicitPartitions(t *testing.T) {
	b, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Topics: []string{"existing"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := NewConn(Security{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	brokers := b.Addrs()
	specs := []TopicSpec{{Name: "ev", Partitions: 4}, {Name: "st", Partitions: 4, Configs: map[string]string{"cleanup.policy": "compact"}}}
	if err := EnsureTopics(ctx, brokers, conn, specs); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTopics(ctx, brokers, conn, specs); err != nil {
		t.Fatalf("second call on existing topics: %v", err)
	}
	if err := EnsureTopics(ctx, brokers, conn, []TopicSpec{{Name: "existing", Partitions: 4}}); !errors.Is(err, ErrPartitionMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	if n, err := PartitionCount(ctx, brokers, conn, "st"); err != nil || n != 4 {
		t.Fatalf("count %d %v", n, err)
	}

	w := NewWriter(brokers, conn)
	w.Balancer = &ExplicitBalancer{Topics: map[string]bool{"st": true}}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 20 {
		msgs = append(msgs, kafka.Message{Topic: "st", Partition: i % 4, Key: []byte(fmt.Sprintf("%d/k%d", i%4, i%5)), Value: []byte{byte(i)}})
		msgs = append(msgs, kafka.Message{Topic: "ev", Key: []byte(fmt.Sprintf("principal-%d", i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	for p := range 4 {
		var got []byte
		end, err := ReadPartition(ctx, brokers, conn.Dialer, "st", p, kafka.FirstOffset, func(m *kafka.Message) error {
			if m.Partition != p || string(m.Key[:1]) != fmt.Sprint(p) {
				t.Errorf("partition %d got %s", p, m.Key)
			}
			got = append(got, m.Value...)
			return nil
		})
		if err != nil || end != 5 || len(got) != 5 {
			t.Fatalf("p%d: end %d, %d values, %v", p, end, len(got), err)
		}
		for i, v := range got {
			if int(v) != p+4*i {
				t.Fatalf("p%d: order %v", p, got)
			}
		}
		// From the middle, and from the end.
		n := 0
		if _, err := ReadPartition(ctx, brokers, conn.Dialer, "st", p, 3, func(*kafka.Message) error { n++; return nil }); err != nil || n != 2 {
			t.Fatalf("from 3: %d %v", n, err)
		}
		if _, err := ReadPartition(ctx, brokers, conn.Dialer, "st", p, 5, func(*kafka.Message) error { t.Fatal("read past end"); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Events went by murmur2 of the key, as the Java client would.
	bal := &kafka.Murmur2Balancer{}
	for p := range 4 {
		if _, err := ReadPartition(ctx, brokers, conn.Dialer, "ev", p, kafka.FirstOffset, func(m *kafka.Message) error {
			if want := bal.Balance(*m, 0, 1, 2, 3); want != p {
				t.Errorf("%s in %d, murmur2 says %d", m.Key, p, want)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
