package respond

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bad.yaml.err")

func TestConfigGood(t *testing.T) {
	b, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Retry.MaxAttempts != 6 || c.Retry.MaxRetryAfter != 5*time.Minute || len(c.Sinks) != 4 ||
		!c.Quarantine.IsDryRun() || c.Quarantine.MaxActionsPerHour != 3 || c.ParkedTopic != "trailwatch.alerts.parked" {
		t.Fatalf("%+v", c)
	}
	if d := Defaults(); d.Quarantine.Enabled || !d.Quarantine.IsDryRun() {
		t.Fatal("quarantine must default to off and dry-run")
	}
}

func TestConfigBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			_, err := ParseConfig(b)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err %v", err)
			}
			if *update {
				os.WriteFile(f+".err", []byte(err.Error()+"\n"), 0o644)
				return
			}
			want, _ := os.ReadFile(f + ".err")
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}
