package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/devbroker"
)

// tinyKafka is a Kafka row small enough for a unit test.
func tinyKafka() KafkaSpec {
	return KafkaSpec{Seed: 3, Principals: 20, Instances: 4, Duration: time.Hour, MaxRecords: 2000, Partitions: 3, Runs: 1}
}

// TestMeasureKafka runs the Kafka row on a tiny topic: both readers see
// every message (MeasureKafka checks the counts) and the result is
// internally consistent.
func TestMeasureKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and serve")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed: the Kafka row is not measured without it")
	}
	spec := tinyKafka()
	msgs, err := KafkaMessages(spec)
	if err != nil {
		t.Fatal(err)
	}
	r, err := MeasureKafka(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != int64(len(msgs)) || r.Records > int64(spec.MaxRecords) {
		t.Errorf("records = %d, want %d (at most %d)", r.Records, len(msgs), spec.MaxRecords)
	}
	if r.ServePerSec <= 0 || r.KcatPerSec <= 0 {
		t.Errorf("rates = %+v", r)
	}
	if got := r.ServePerSec / r.KcatPerSec; got != r.RatioOfKcat {
		t.Errorf("ratio = %v, want serve/kcat = %v", r.RatioOfKcat, got)
	}
	if r.Note == "" || r.Broker == "" {
		t.Errorf("note or broker missing: %+v", r)
	}
}

// TestMeasureKafkaNoKcat: without kcat the row is an ErrNoKcat, and the
// report's KafkaRow turns that into "not measured" instead of a failure.
func TestMeasureKafkaNoKcat(t *testing.T) {
	spec := tinyKafka()
	spec.Kcat = "/nonexistent/kcat"
	if _, err := MeasureKafka(context.Background(), spec); !errors.Is(err, ErrNoKcat) {
		t.Fatalf("err = %v, want ErrNoKcat", err)
	}
	t.Setenv("PATH", t.TempDir())
	r, err := KafkaRow(context.Background(), tinyScale(), t.TempDir())
	if r != nil || err != nil {
		t.Fatalf("KafkaRow without kcat = %+v, %v; want nil, nil", r, err)
	}
}

// TestKafkaMessagesDeterministic: the topic is a function of the spec.
func TestKafkaMessagesDeterministic(t *testing.T) {
	a, err := KafkaMessages(tinyKafka())
	if err != nil {
		t.Fatal(err)
	}
	b, err := KafkaMessages(tinyKafka())
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("lengths %d, %d", len(a), len(b))
	}
	for i := range a {
		if string(a[i].Key) != string(b[i].Key) || string(a[i].Value) != string(b[i].Value) {
			t.Fatalf("message %d differs", i)
		}
	}
}

// BenchmarkServeKafka is serve consuming and processing b.N generated
// messages from the in-process broker, group join included (it amortises
// as b.N grows). Compare with the report's Kafka row for kcat.
//
//	go test -run '^$' -bench BenchmarkServeKafka -benchtime 200000x ./bench
func BenchmarkServeKafka(b *testing.B) {
	spec := KafkaSpec{Seed: 1, Principals: 300, Instances: 40, Duration: 24 * time.Hour, MaxRecords: min(b.N, 200_000)}
	pool, err := KafkaMessages(spec)
	if err != nil {
		b.Fatal(err)
	}
	msgs := pool
	for len(msgs) < b.N {
		msgs = append(msgs, pool[:min(len(pool), b.N-len(msgs))]...)
	}
	msgs = msgs[:b.N]
	var size int64
	for i := range msgs {
		size += int64(len(msgs[i].Value))
	}
	br, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Partitions: 4,
		Topics: []string{kafkaTopic, config.DefaultAlertsTopic, config.DefaultDeadLetterTopic}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ctx := context.Background()
	if err := produce(ctx, br.Addrs()[0], msgs); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size / int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	st, err := TimeServe(ctx, br.Addrs()[0], kafkaTopic, fmt.Sprintf("bench-%d", b.N), int64(b.N))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reportRecordRate(b, 1)
	b.ReportMetric(st.FirstMessage.Seconds(), "s-to-first")
}
