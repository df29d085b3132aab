package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/internal/replay"
)

func TestReplayPartitionsFlag(t *testing.T) {
	help, _, err := execute(t, "", "replay", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(help, "mirror a scaled-out service whose events topic has N partitions") {
		t.Errorf("--partitions not documented:\n%s", help)
	}
	for _, n := range []string{"-1", "4097"} {
		if _, _, err := execute(t, "", "replay", "--partitions", n, "-"); err == nil || !strings.Contains(err.Error(), "--partitions: want 0..4096") {
			t.Errorf("--partitions %s: %v", n, err)
		}
	}
	state := filepath.Join(t.TempDir(), "state")
	_, _, err = execute(t, goodRecord+"\n", "replay", "--partitions", "2", "--state", state, "-")
	if !errors.Is(err, replay.ErrPartitionsWithState) {
		t.Errorf("--partitions with --state: %v", err)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("state written")
	}
	if _, _, err := execute(t, goodRecord+"\n", "replay", "--partitions", "4096", "-"); err != nil {
		t.Errorf("--partitions 4096: %v", err)
	}
}

// samplePath matches the sample's temporary directory, which flow-log
// evidence names and which differs between runs.
var samplePath = regexp.MustCompile(`trailwatch-sample-[0-9]+`)

// TestReplayPartitionsSample: on the built-in sample with min_history 0
// (every principal scored on its own baseline, so which principals share a
// partition's peer groups cannot matter), --partitions 1 writes the default
// single engine's alerts byte for byte and --partitions 4 raises the same
// alerts. (internal/replay proves the first with peer scoring too.)
func TestReplayPartitionsSample(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a sample organization")
	}
	cfgPath := filepath.Join(t.TempDir(), "tw.yaml")
	if err := os.WriteFile(cfgPath, []byte("detect:\n  min_history: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	replaySample := func(args ...string) (string, []string) {
		out, stderr, err := execute(t, "", append([]string{"replay", "--sample", "--config", cfgPath}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr, "injected incidents caught") {
			t.Errorf("no sample report:\n%s", stderr)
		}
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var a struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(line), &a) != nil || a.ID == "" {
				t.Fatalf("alert line %q", line)
			}
			ids = append(ids, a.ID)
		}
		slices.Sort(ids)
		return samplePath.ReplaceAllString(out, "trailwatch-sample-N"), ids
	}
	out0, ids0 := replaySample()
	out1, _ := replaySample("--partitions", "1")
	_, ids4 := replaySample("--partitions", "4")
	if len(ids0) == 0 {
		t.Fatal("no alerts")
	}
	if out1 != out0 {
		t.Errorf("--partitions 1 differs from the default:\n%s\nvs\n%s", out1, out0)
	}
	if !slices.Equal(ids0, ids4) {
		t.Errorf("4 partitions raise %d alerts %v, one engine %d %v", len(ids4), ids4, len(ids0), ids0)
	}
}
