package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/source"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/replay"
)

// GenerateFiles writes cfg's workload under dir (DIR/AWSLogs/..., gzip unless
// plain, and DIR/truth.json) and returns what was written.
func GenerateFiles(dir string, cfg workload.Config, plain bool) (workload.FileStats, error) {
	g, err := workload.New(cfg)
	if err != nil {
		return workload.FileStats{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return workload.FileStats{}, err
	}
	fs, err := workload.WriteFiles(dir, g, workload.FileOptions{Plain: plain})
	if err != nil {
		return fs, fmt.Errorf("generate %s: %w", dir, err)
	}
	if err := workload.WriteTruth(filepath.Join(dir, "truth.json"), g.Truth()); err != nil {
		return fs, err
	}
	return fs, nil
}

// ReplayOptions are the options `trailwatch replay DIR/AWSLogs` runs with
// (internal/config defaults, GOMAXPROCS inputs at once), alerts discarded.
func ReplayOptions(dir string) replay.Options {
	cfg := config.Default()
	return replay.Options{
		Inputs:      []string{filepath.Join(dir, "AWSLogs")},
		Decode:      decodeOptions(),
		Baseline:    cfg.BaselineOptions(),
		Detect:      cfg.Detect,
		Parallelism: runtime.GOMAXPROCS(0),
		Out:         io.Discard,
	}
}

func decodeOptions() decode.Options {
	cfg := config.Default()
	dec, err := cfg.DecodeOptions()
	if err != nil {
		panic(err) // the built-in defaults are valid; a failure here is a bug
	}
	return dec
}

// ReplayResult is one timed end-to-end replay.
type ReplayResult struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"` // stored (compressed) bytes
	Alerts        int64   `json:"alerts"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	PerCore       float64 `json:"records_per_sec_per_core"` // RecordsPerSec / GOMAXPROCS
	Procs         int     `json:"gomaxprocs"`
}

// TimeReplay replays dir's files runs times with opts and keeps the fastest
// run (the one least disturbed by other work on the machine).
func TimeReplay(ctx context.Context, opts replay.Options, runs int) (ReplayResult, error) {
	var best ReplayResult
	for i := 0; i < max(runs, 1); i++ {
		t0 := time.Now()
		sum, err := replay.Run(ctx, opts)
		if err != nil {
			return best, err
		}
		secs := time.Since(t0).Seconds()
		if i > 0 && secs >= best.Seconds {
			continue
		}
		procs := runtime.GOMAXPROCS(0)
		best = ReplayResult{Records: sum.Records, Bytes: sum.Bytes, Alerts: sum.Alerts, Seconds: secs,
			RecordsPerSec: float64(sum.Records) / secs, Procs: procs}
		best.PerCore = best.RecordsPerSec / float64(procs)
	}
	return best, nil
}

// Ceiling is one stage of the replay pipeline measured alone on the same
// files, on one goroutine, so that end-to-end throughput can be read against
// what the stages before it allow.
type Ceiling struct {
	Name          string  `json:"name"`
	Records       int64   `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"` // on one goroutine: per core
}

// countSink counts what a decoder produces and keeps nothing.
type countSink struct{ events, other int64 }

func (s *countSink) Event(*ingest.Event)                 { s.events++ }
func (s *countSink) Insight(*ingest.Event, []byte)       { s.other++ }
func (s *countSink) Reject(*ingest.Reject)               { s.other++ }
func (s *countSink) Skip(ingest.Reason, ingest.Position) {}

// MeasureCeilings times, on one goroutine, over the files under dir/AWSLogs
// (or only those whose path contains filter): gunzip alone, decoding alone
// (decompressed content already in memory, timed per file) and decoding from
// the gzip files (open, gunzip, decode), in that order.
func MeasureCeilings(ctx context.Context, dir, filter string) ([]Ceiling, error) {
	units, err := source.LocalUnits([]string{filepath.Join(dir, "AWSLogs")}, nil)
	if err != nil {
		return nil, err
	}
	if filter != "" {
		kept := units[:0]
		for _, u := range units {
			if strings.Contains(u.Name, filter) {
				kept = append(kept, u)
			}
		}
		units = kept
	}
	dec, err := decode.New(decodeOptions())
	if err != nil {
		return nil, err
	}
	var gunzip, decodeOnly, full time.Duration
	var sink countSink
	var plain bytes.Buffer
	var dz ingest.Decompressor
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(u.Name)
		if err != nil {
			return nil, err
		}
		// gunzip alone, from memory.
		plain.Reset()
		t0 := time.Now()
		r, _, err := dz.Reset(bytes.NewReader(raw))
		if err == nil {
			_, err = plain.ReadFrom(r)
		}
		gunzip += time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.Name, err)
		}
		// decode alone, from the decompressed bytes.
		t0 = time.Now()
		if err := dec.Decode(bytes.NewReader(plain.Bytes()), ingest.FilePos(u.Name), &sink); err != nil {
			return nil, err
		}
		decodeOnly += time.Since(t0)
	}
	records := sink.events + sink.other
	sink = countSink{}
	for _, u := range units {
		t0 := time.Now()
		rc, err := u.Open(ctx)
		if err != nil {
			return nil, err
		}
		err = dec.Decode(rc, ingest.FilePos(u.Name), &sink)
		rc.Close()
		full += time.Since(t0)
		if err != nil {
			return nil, err
		}
	}
	mk := func(name string, d time.Duration) Ceiling {
		c := Ceiling{Name: name, Records: records, Seconds: d.Seconds()}
		if d > 0 {
			c.RecordsPerSec = float64(records) / d.Seconds()
		}
		return c
	}
	return []Ceiling{
		mk("gunzip only", gunzip),
		mk("decode only (decompressed, in memory)", decodeOnly),
		mk("open + gunzip + decode", full),
	}, nil
}
