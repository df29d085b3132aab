package main

import (
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	out, _, err := execute(t, "", "config", "check", "../../trailwatch.example.yaml")
	if err != nil || !strings.Contains(out, ": ok") {
		t.Fatalf("example config: %q %v", out, err)
	}
	_, _, err = execute(t, "", "config", "check", "../../internal/config/testdata/kafka-group.bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "kafka.group_id") {
		t.Fatalf("bad config: %v", err)
	}
	out, _, _ = execute(t, "", "config", "env")
	if !strings.Contains(out, "TRAILWATCH_KAFKA_BROKERS") {
		t.Fatalf("config env: %q", out)
	}
}

// The demo runs end to end on a free port, prints alerts as they fire and
// ends with the incident summary.
func TestDemoSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	out, _, err := execute(t, "", "demo", "--principals", "60", "--instances", "8", "--duration", "8h",
		"--speed", "0", "--broker-addr", "127.0.0.1:0", "--log-level", "error")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "incidents caught:") || !strings.Contains(out, "CRITICAL") {
		t.Fatalf("demo output:\n%s", out)
	}
	t.Log(out[strings.Index(out, "incidents caught:"):])
}
