package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bad.yaml.err with the current errors")

func TestGoodConfig(t *testing.T) {
	c, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Detect.Window != 5*time.Minute || c.Detect.Sigma != 3.5 || c.Baseline.MaxPrincipals != 500000 {
		t.Fatalf("settings not read: %+v", c)
	}
	// Settings the file does not name keep their defaults.
	if c.Detect.AllowedLateness != 5*time.Minute || c.Detect.MinHistory == 0 {
		t.Fatalf("defaults lost: %+v", c.Detect)
	}
	d, err := c.DecodeOptions()
	if err != nil || len(d.VPCFlow.Internal) != 2 || d.VPCFlow.ExcludeServices[0] != "S3" {
		t.Fatalf("decode options %+v, %v", d, err)
	}
	if b := c.BaselineOptions(); b.Window != 5*time.Minute || b.HalfLife != 168*time.Hour {
		t.Fatalf("baseline options %+v", b)
	}
}

func TestEmptyConfigIsDefault(t *testing.T) {
	c, err := Parse(strings.NewReader("\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatal("empty file differs from the defaults")
	}
}

// TestBadConfigs: every bad file fails with exactly the error recorded beside
// it (testdata/NAME.bad.yaml.err), and the error names the setting.
func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			golden := f + ".err"
			if *update {
				os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Errorf("error\n  %s\nwant\n  %s", got, want)
			}
		})
	}
}
