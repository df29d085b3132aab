package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/bench/workload"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := run([]string{"-out", dir, "-principals", "40", "-duration", "8h", "-warmup", "2h", "-seed", "3", "-gzip=false"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := workload.ReadTruth(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(truth.Incidents) == 0 || truth.Stats.CloudTrail == 0 || truth.Seed != 3 {
		t.Fatalf("truth %+v", truth)
	}
	if !strings.Contains(out.String(), "cloudtrail: ") || !strings.Contains(out.String(), truth.Incidents[0].ID) {
		t.Fatalf("output:\n%s", out.String())
	}
	m, _ := filepath.Glob(filepath.Join(dir, "AWSLogs", "*", "CloudTrail", "*", "*", "*", "*", "*.json"))
	if len(m) == 0 {
		t.Fatal("no plain CloudTrail files")
	}
	if _, err := os.Stat(filepath.Join(dir, "AWSLogs")); err != nil {
		t.Fatal(err)
	}
}

func TestRunErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-out", t.TempDir(), "-flow-format", "v9"},
		{"-out", t.TempDir(), "-principals", "-3"},
		{"-out", t.TempDir(), "-start", "yesterday"},
		{"-out", t.TempDir(), "extra"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
