package serve

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// An independent client (kcat, librdkafka) produces the input: the service
// reads it like any other producer's and finds the replay's alerts.
func TestKcatProducer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	b := startBroker(t, 1)
	msgs, _ := genMessages(t, 40, 6*time.Hour)
	cfg := testConfig(b.Addrs())
	testDetect(&cfg)
	want := map[string]bool{}
	for _, a := range referenceAlerts(t, cfg, msgs) {
		want[a.ID] = true
	}
	var in bytes.Buffer
	for _, m := range msgs {
		if bytes.ContainsAny(m.Value, "\n\t") || bytes.ContainsAny(m.Key, "\n\t") {
			t.Fatalf("generated record spans lines: %q", m.Value)
		}
		in.Write(m.Key)
		in.WriteByte('\t')
		in.Write(m.Value)
		in.WriteByte('\n')
	}
	cmd := exec.Command(kcat, "-P", "-b", b.Addrs()[0], "-t", testInput, "-K", "\t", "-z", "gzip")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	alerts := collect(t, b.Addrs(), cfg.Kafka.AlertsTopic)
	r := startService(t, cfg, testLogger(t))
	got := alerts.waitFor(t, time.Minute, func(m []kafkago.Message) bool {
		ids, _ := alertIDs(t, m)
		return len(ids) >= len(want)
	})
	waitUntil(t, time.Minute, "every kcat message processed", func() bool { return r.s.Processed() >= int64(len(msgs)) })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	ids, _ := alertIDs(t, got)
	for id := range want {
		if !ids[id] {
			t.Errorf("alert %s missing", id)
		}
	}
	if r.s.Processed() != int64(len(msgs)) {
		t.Errorf("processed %d of %d kcat messages", r.s.Processed(), len(msgs))
	}
}
