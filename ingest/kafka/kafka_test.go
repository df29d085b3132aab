package kafka

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/ingest"
)

func TestSecurityMechanisms(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, mech := range []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512} {
		s := Security{SASL: SASL{Mechanism: mech, Username: "tw", PasswordEnv: "PW"}}
		m, err := s.Mechanism(env(map[string]string{"PW": "secret"}))
		if err != nil || m == nil || m.Name() != mech {
			t.Errorf("%s: %v %v", mech, m, err)
		}
		_, err = s.Mechanism(env(nil))
		if !errors.Is(err, ErrInvalidSecurity) || !strings.Contains(err.Error(), "PW") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s without the password: %v", mech, err)
		}
	}
	if m, err := (&Security{}).Mechanism(env(nil)); m != nil || err != nil {
		t.Errorf("no SASL: %v %v", m, err)
	}
	c, err := NewConn(Security{TLS: TLS{Enabled: true, ServerName: "k"}}, env(nil))
	if err != nil || c.Dialer.TLS == nil || c.Dialer.TLS.ServerName != "k" || c.Transport.TLS == nil {
		t.Fatalf("TLS conn %+v %v", c, err)
	}
	if _, err := NewConn(Security{TLS: TLS{Enabled: true, CAFile: "/nonexistent"}}, env(nil)); err == nil {
		t.Error("missing CA file accepted")
	}
}

func TestOffsets(t *testing.T) {
	o := NewOffsets()
	f := func(p int, off, gen int64) *Fetched {
		return &Fetched{Msg: kafka.Message{Topic: "t", Partition: p, Offset: off}, Generation: gen}
	}
	o.Done(f(0, 5, 1))
	o.Done(f(0, 6, 1))
	o.Done(f(1, 9, 1))
	if n, _ := o.Next("t", 0); n != 7 {
		t.Fatalf("next %d", n)
	}
	cp := o.Take()
	if cp.Len() != 2 || o.Len() != 0 {
		t.Fatalf("take: %d, left %d", cp.Len(), o.Len())
	}
	o.Done(f(0, 7, 2)) // a new generation
	o.Done(f(1, 10, 1))
	if _, ok := o.Next("t", 1); ok {
		t.Error("a straggler from an older generation was tracked")
	}
	if n, _ := o.Next("t", 0); n != 8 || o.gen["t"] != 2 {
		t.Errorf("new generation: next %d gen %d", n, o.gen["t"])
	}
}

// flaky fails the first writes, then records what it wrote.
type flaky struct {
	mu    sync.Mutex
	fails int
	got   []string
}

func (f *flaky) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("broker down")
	}
	for _, m := range msgs {
		f.got = append(f.got, string(m.Value))
	}
	return nil
}

// A failed write is retried until it succeeds, in order, and Acked only
// moves past a record once the broker took it.
func TestProducerRetriesInOrder(t *testing.T) {
	w := &flaky{fails: 3}
	p := NewProducer(ProducerOptions{Writer: w, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond, MaxBatch: 2})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var last uint64
	for i := range 5 {
		seq, err := p.Enqueue(ctx, kafka.Message{Topic: "a", Value: []byte{'0' + byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	if err := p.WaitAcked(ctx, last); err != nil {
		t.Fatal(err)
	}
	p.CloseInput()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.got, ""); got != "01234" || p.Acked() != 5 || !p.Healthy() {
		t.Fatalf("wrote %q, acked %d", got, p.Acked())
	}
	if _, err := p.Enqueue(ctx, kafka.Message{}); !errors.Is(err, ErrProducerClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
}

// Cancelling Run leaves unwritten records unacknowledged.
func TestProducerCancelLeavesUnacked(t *testing.T) {
	w := &flaky{fails: 1 << 30}
	p := NewProducer(ProducerOptions{Writer: w, BackoffMin: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	p.Enqueue(ctx, kafka.Message{Value: []byte("x")}) //nolint:errcheck
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || p.Acked() != 0 {
		t.Fatalf("run %v, acked %d", err, p.Acked())
	}
}

func TestDeadLetterHeaders(t *testing.T) {
	src := &kafka.Message{Topic: "in", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("whole")}
	m := DeadLetter("dlq", src, ingest.ReasonBadTime, strings.Repeat("d", 5000), 2, []byte("rec"))
	if m.Topic != "dlq" || string(m.Value) != "rec" || Header(&m, HeaderReason) != "bad_event_time" ||
		Header(&m, HeaderSourcePartition) != "3" || Header(&m, HeaderSourceOffset) != "42" ||
		Header(&m, HeaderSourceIndex) != "2" || len(Header(&m, HeaderDetail)) != maxDetail {
		t.Fatalf("%+v", m)
	}
	if m := DeadLetter("dlq", src, ingest.ReasonBadTime, "", 0, nil); string(m.Value) != "whole" || Header(&m, HeaderSourceIndex) != "" {
		t.Fatalf("%+v", m)
	}
}

func TestParseURL(t *testing.T) {
	r, err := ParseURL("kafka://b1:9092,b2:9092/cloudtrail?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z")
	if err != nil || len(r.Brokers) != 2 || r.Topic != "cloudtrail" || r.From.Day() != 1 || r.To.Day() != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{
		"kafka:///t", "kafka://b:1/", "kafka://b:1/t?since=x", "kafka://b:1/t?from=yesterday",
		"kafka://b:1/t?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", "http://b:1/t",
	} {
		if _, err := ParseURL(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	f.Add("kafka://b1:9092/t?from=2025-03-01T00:00:00Z")
	f.Add("kafka://,/%zz")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseURL(s)
		if err == nil && (len(r.Brokers) == 0 || r.Topic == "") {
			t.Fatalf("accepted %q as %+v", s, r)
		}
	})
}
