package bench

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/internal/replay"
)

// benchSet is a generated gzip file set shared by the replay benchmarks; it is
// written once per test binary, on first use, so `go test` without -bench
// never pays for it.
var benchSet struct {
	once sync.Once
	dir  string
	fs   workload.FileStats
	err  error
}

func replaySet(b *testing.B) (string, workload.FileStats) {
	b.Helper()
	benchSet.once.Do(func() {
		dir, err := os.MkdirTemp("", "trailwatch-bench-")
		if err != nil {
			benchSet.err = err
			return
		}
		cfg := workload.DefaultConfig()
		cfg.Duration = 24 * time.Hour
		benchSet.dir = dir
		benchSet.fs, benchSet.err = GenerateFiles(dir, cfg, false)
	})
	if benchSet.err != nil {
		b.Fatal(benchSet.err)
	}
	return benchSet.dir, benchSet.fs
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchSet.dir != "" {
		os.RemoveAll(benchSet.dir)
	}
	os.Exit(code)
}

// BenchmarkReplay is the end-to-end replay of a generated day (300
// principals, 40 instances, gzip, 5-minute files): decode, baseline, detect
// and alert output, as `trailwatch replay` runs it. "all" replays CloudTrail
// and flow logs, "cloudtrail" the CloudTrail files only. Bytes are the stored
// (compressed) bytes; records/s/core divides by GOMAXPROCS.
func BenchmarkReplay(b *testing.B) {
	dir, fs := replaySet(b)
	b.Run("all", func(b *testing.B) {
		benchReplay(b, ReplayOptions(dir), fs.CloudTrailRecords+fs.FlowRecords, fs.Bytes)
	})
	b.Run("cloudtrail", func(b *testing.B) {
		opts := ReplayOptions(dir)
		var err error
		if opts.Inputs, err = filepath.Glob(filepath.Join(dir, "AWSLogs", "*", "CloudTrail")); err != nil || len(opts.Inputs) == 0 {
			b.Fatal("no CloudTrail files", err)
		}
		benchReplay(b, opts, fs.CloudTrailRecords, 0)
	})
}

func benchReplay(b *testing.B, opts replay.Options, records, bytes int64) {
	if bytes > 0 {
		b.SetBytes(bytes)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sum, err := replay.Run(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Records != records {
			b.Fatalf("replayed %d records, generated %d", sum.Records, records)
		}
	}
	reportRecordRate(b, records)
}
