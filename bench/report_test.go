package bench

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tinyScale runs every in-process step at a size that takes seconds; the
// packages' go benchmarks are left out (they are exercised by their own
// packages' tests).
func tinyScale() Scale {
	return Scale{Name: "tiny", Principals: 40, Instances: 6, Duration: 2 * time.Hour, ReplayRuns: 1,
		MemoryPrincipals: 2000,
		Quality:          QualitySpec{Seed: 2, Principals: 60, Instances: 6, WarmUpDays: 1, ScoredDays: 1, IncidentsPerKind: 1}}
}

// TestReportEndToEnd runs the suite at a tiny scale and checks that every
// file is written, report.json round-trips into Report, each SVG is
// well-formed XML, and the Kafka row is measured against kcat (or, without
// kcat on PATH, reported as not measured).
func TestReportEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and replays a small workload")
	}
	_, kcatErr := exec.LookPath("kcat")
	rep, err := Run(context.Background(), Options{Scale: tinyScale(), WorkDir: t.TempDir(), Kafka: KafkaRow})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("steps failed: %v", rep.Errors)
	}
	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	var back Report
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if back.Replay == nil || back.Replay.CloudTrail.Records == 0 || back.Replay.All.Records <= back.Replay.CloudTrail.Records {
		t.Errorf("replay figures missing or inconsistent: %+v", back.Replay)
	}
	switch {
	case kcatErr != nil:
		t.Log("kcat not installed: the Kafka row is not measured")
		if back.Kafka != nil {
			t.Errorf("kafka row = %+v without kcat, want null", back.Kafka)
		}
	case back.Kafka == nil || back.Kafka.Records == 0 || back.Kafka.ServePerSec <= 0 || back.Kafka.KcatPerSec <= 0:
		t.Errorf("kafka row = %+v, want both rates", back.Kafka)
	}
	if back.Memory == nil || back.Memory.BytesPerPrincipal <= 0 {
		t.Errorf("memory = %+v", back.Memory)
	}
	if back.Quality == nil || back.Quality.Incidents == 0 || back.Quality.PrincipalDays == 0 {
		t.Errorf("quality = %+v", back.Quality)
	}
	for _, name := range []string{"throughput.svg", "timeline.svg"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, name, f)
		f.Close()
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	kafkaWant := "## Kafka end to end"
	if kcatErr != nil {
		kafkaWant = "not measured yet"
	}
	for _, want := range []string{"## Targets", kafkaWant, "throughput.svg", "timeline.svg", rep.Machine.CPU} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func checkXML(t *testing.T, name string, r io.Reader) {
	t.Helper()
	d := xml.NewDecoder(r)
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", name, root)
	}
}
