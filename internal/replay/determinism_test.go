package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/ingest/source"
)

// generate writes a small labelled organization's logs (CloudTrail and flow
// logs, gzip, AWS layout) and returns the AWSLogs directory.
func generate(t *testing.T, principals int, d time.Duration) (string, *workload.Generator) {
	t.Helper()
	cfg := workload.DefaultConfig()
	cfg.Seed = 7
	cfg.Principals = principals
	cfg.Instances = 10
	cfg.Duration = d
	cfg.WarmUp = d / 2
	cfg.Incidents = true
	g, err := workload.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := workload.WriteFiles(dir, g, workload.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "AWSLogs"), g
}

// TestReplayByteIdenticalAcrossParallelism: the same input and flags give
// byte-identical alerts whatever the number of decoding goroutines and
// detection workers, run after run.
func TestReplayByteIdenticalAcrossParallelism(t *testing.T) {
	dir, _ := generate(t, 80, 8*time.Hour)
	var first []byte
	var firstSum *Summary
	for _, par := range []int{1, 2, 4, 1} {
		cfg := defaultDetect()
		cfg.Parallelism = par
		sum, out := run(t, Options{Inputs: []string{dir}, Parallelism: par, Detect: cfg})
		if first == nil {
			first, firstSum = []byte(out), sum
			if sum.Alerts == 0 || sum.Decoded < 10000 {
				t.Fatalf("weak test input: %d alerts over %d events", sum.Alerts, sum.Decoded)
			}
			continue
		}
		if !bytes.Equal(first, []byte(out)) {
			t.Fatalf("parallelism %d: alerts differ from parallelism 1", par)
		}
		if sum.Decoded != firstSum.Decoded || sum.Alerts != firstSum.Alerts || sum.Principals != firstSum.Principals {
			t.Fatalf("parallelism %d: summary differs: %+v vs %+v", par, sum, firstSum)
		}
	}
}

// TestReplayStateWarmsUp: replaying the first half with --state and then the
// second half from the saved state scores the second half against the
// baselines learnt in the first: the alerts on principals' own baselines
// after the split are the ones a single replay of both halves raises, and
// without the state they are not.
func TestReplayStateWarmsUp(t *testing.T) {
	dir, _ := generate(t, 60, 8*time.Hour)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	whole, wholeOut := run(t, Options{Inputs: files})
	// Split by delivery time so that the halves are consecutive in event time.
	units := append([]string(nil), files...)
	sortByKeyTime(units)
	half := len(units) / 2
	splitAt, _ := source.KeyTime(units[half])
	state := filepath.Join(t.TempDir(), "baseline.state")
	s1, _ := run(t, Options{Inputs: units[:half], StateFile: state})
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state not saved: %v", err)
	}
	s2, warmOut := run(t, Options{Inputs: units[half:], StateFile: state})
	_, coldOut := run(t, Options{Inputs: units[half:]})
	if s1.Decoded+s2.Decoded != whole.Decoded {
		t.Fatalf("decoded %d + %d != %d", s1.Decoded, s2.Decoded, whole.Decoded)
	}
	// Alerts scored on the principal's own baseline after the split. (Peer
	// group statistics and cooldowns live in the engine and are not part of
	// the baseline snapshot, so cold-start alerts may differ.)
	own := func(out string) []string {
		var ids []string
		for _, line := range strings.Split(out, "\n") {
			var a struct {
				ID, DetectedAt, PeerGroup string
			}
			if json.Unmarshal([]byte(line), &struct {
				ID         *string `json:"id"`
				DetectedAt *string `json:"detected_at"`
				PeerGroup  *string `json:"peer_group"`
			}{&a.ID, &a.DetectedAt, &a.PeerGroup}) != nil {
				continue
			}
			at, _ := time.Parse(time.RFC3339, a.DetectedAt)
			if a.PeerGroup == "" && at.After(splitAt) {
				ids = append(ids, a.ID)
			}
		}
		sort.Strings(ids)
		return ids
	}
	want, warm, cold := own(wholeOut), own(warmOut), own(coldOut)
	if len(want) == 0 {
		t.Fatal("weak test: no own-baseline alerts after the split")
	}
	if strings.Join(warm, ",") != strings.Join(want, ",") {
		t.Errorf("with --state: own-baseline alerts after the split\n%v\nwant\n%v", warm, want)
	}
	// Without the state every principal starts cold: the incident minutes
	// after the split is missed.
	if len(cold) >= len(want) {
		t.Errorf("without --state: %d own-baseline alerts, with: %d: the state made no difference\nwhole:\n%s\ncold:\n%s",
			len(cold), len(warm), brief(wholeOut), brief(coldOut))
	}
}

func sortByKeyTime(paths []string) {
	units := make([]source.Unit, len(paths))
	for i, p := range paths {
		units[i] = source.Unit{Name: p}
	}
	source.SortByKeyTime(units)
	for i := range units {
		paths[i] = units[i].Name
	}
}

func brief(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a map[string]any
		json.Unmarshal([]byte(line), &a)
		fmt.Fprintf(&b, "%v %v %v %v\n", a["detected_at"], a["metric"], a["principal"], a["peer_group"])
	}
	return b.String()
}
