package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/internal/devbroker"
)

// TestReadRangeOrderAndBounds: partitions are merged by message time, then
// partition, then offset, each partition keeping its offset order; a
// partition stops at its first message stamped after to, and messages stamped
// outside the range are left out even when producer timestamps are out of
// order within a partition.
func TestReadRangeOrderAndBounds(t *testing.T) {
	b, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addrs()[0]
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	// minutes after t0 per partition, in offset order; 9 is out of order in p2
	parts := map[int][]int{0: {1, 4, 7}, 1: {1, 2, 8}, 2: {0, 9, 5}}
	for p, mins := range parts {
		c, err := kafka.DialLeader(context.Background(), "tcp", addr, "t", p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mins {
			v := fmt.Sprintf("p%d+%d", p, m)
			if _, err := c.WriteMessages(kafka.Message{Value: []byte(v), Time: t0.Add(time.Duration(m) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	for _, tc := range []struct{ query, want string }{
		{"", "p2+0 p0+1 p1+1 p1+2 p0+4 p0+7 p1+8 p2+9 p2+5"},
		// p2 stops at p2+9, the first stamped after to, so p2+5 is not read.
		{"?from=2025-03-03T00:02:00Z&to=2025-03-03T00:07:00Z", "p1+2 p0+4 p0+7"},
		// p2+5 is past from's offset (p2+9) and inside to, but stamped before from.
		{"?from=2025-03-03T00:06:00Z", "p0+7 p1+8 p2+9"},
		{"?to=2025-03-03T00:01:00Z", "p2+0 p0+1 p1+1"},
		{"?from=2025-03-03T01:00:00Z", ""},
	} {
		r, err := ParseURL("kafka://" + addr + "/t" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		err = ReadRange(context.Background(), r, nil, func(m *kafka.Message) error {
			got = append(got, string(m.Value))
			return nil
		})
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%q: got %v (%v), want %s", tc.query, got, err, tc.want)
		}
	}
}
