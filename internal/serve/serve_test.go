package serve

import (
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// CloudTrail records and flow lines produced to an input topic come out as
// alerts on the alerts topic with exactly the ids a replay of the same
// messages finds.
func TestAlertsMatchReplay(t *testing.T) {
	b := startBroker(t, 1)
	msgs, _ := genMessages(t, 40, 6*time.Hour)
	cfg := testConfig(b.Addrs())
	testDetect(&cfg)
	want := referenceAlerts(t, cfg, msgs)
	if len(want) < 3 {
		t.Fatalf("scenario too tame: %d reference alerts", len(want))
	}
	alerts := collect(t, b.Addrs(), cfg.Kafka.AlertsTopic)
	produce(t, b.Addrs(), msgs)
	r := startService(t, cfg, testLogger(t))
	wantIDs := map[string]bool{}
	for _, a := range want {
		wantIDs[a.ID] = true
	}
	got := alerts.waitFor(t, 60*time.Second, func(m []kafkago.Message) bool {
		ids, _ := alertIDs(t, m)
		return len(ids) >= len(wantIDs)
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	ids, n := alertIDs(t, got)
	for id := range wantIDs {
		if !ids[id] {
			t.Errorf("alert %s of the replay is missing", id)
		}
	}
	for id := range ids {
		if !wantIDs[id] {
			t.Errorf("alert %s is not in the replay", id)
		}
	}
	if n != len(ids) {
		t.Errorf("%d alerts for %d ids: duplicates without a crash", n, len(ids))
	}
	for _, m := range got {
		var key string = string(m.Key)
		if key == "" {
			t.Fatal("alert without a key")
		}
	}
	t.Logf("%d messages, %d alerts", len(msgs), len(ids))
}
