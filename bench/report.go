package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/detect"
)

// Scale sizes a suite run.
type Scale struct {
	Name string `json:"name"`
	// Replay throughput: one generated day of this organisation.
	Principals int           `json:"principals"`
	Instances  int           `json:"instances"`
	Duration   time.Duration `json:"duration"`
	ReplayRuns int           `json:"replay_runs"` // the fastest is kept
	// Memory per principal at this many principals (the target is stated at 1M).
	MemoryPrincipals int `json:"memory_principals"`
	// Detection quality.
	Quality QualitySpec `json:"quality"`
	// GoBench runs the packages' own benchmarks with this -benchtime; empty
	// skips them (the go command and module source are needed).
	Benchtime string `json:"benchtime,omitempty"`
}

// Scales are the named sizes of `report -scale`.
var Scales = map[string]Scale{
	"small": {Name: "small", Principals: 300, Instances: 40, Duration: 24 * time.Hour, ReplayRuns: 3,
		MemoryPrincipals: 1_000_000, Benchtime: "200ms",
		Quality: QualitySpec{Seed: 1, Principals: 300, Instances: 40, WarmUpDays: 4, ScoredDays: 1, IncidentsPerKind: 2}},
	"medium": {Name: "medium", Principals: 1000, Instances: 120, Duration: 24 * time.Hour, ReplayRuns: 3,
		MemoryPrincipals: 1_000_000, Benchtime: "1s",
		Quality: QualitySpec{Seed: 1, Principals: 1000, Instances: 120, WarmUpDays: 5, ScoredDays: 2, IncidentsPerKind: 4}},
	"large": {Name: "large", Principals: 3000, Instances: 300, Duration: 24 * time.Hour, ReplayRuns: 3,
		MemoryPrincipals: 1_000_000, Benchtime: "2s",
		Quality: QualitySpec{Seed: 1, Principals: 3000, Instances: 300, WarmUpDays: 6, ScoredDays: 3, IncidentsPerKind: 8}},
}

// KafkaResult is the Kafka end-to-end row: serve's consumption rate of a
// generated topic against kcat merely reading it, same broker, same run.
type KafkaResult struct {
	Records     int64   `json:"records"`
	ServePerSec float64 `json:"serve_records_per_sec"`
	KcatPerSec  float64 `json:"kcat_records_per_sec"`
	RatioOfKcat float64 `json:"ratio_of_kcat"` // target >= 0.9
	Broker      string  `json:"broker"`
	Note        string  `json:"note,omitempty"`
}

// KafkaFunc measures the Kafka row; workDir is a scratch directory.
type KafkaFunc func(ctx context.Context, sc Scale, workDir string) (*KafkaResult, error)

// Options configure Run.
type Options struct {
	Scale      Scale
	WorkDir    string    // generated data; default a temporary directory, removed after
	ModuleRoot string    // where `go test` runs the packages' benchmarks; default: found from the working directory
	Log        io.Writer // progress lines; nil: quiet
	Kafka      KafkaFunc // nil: the Kafka row says "not measured yet"

	// ScaleOut measures the scale-out row; nil: it says "not measured".
	ScaleOut ScaleOutFunc
}

// Targets are the targets, kept in the report beside the figures.
type Targets struct {
	CloudTrailRecordsPerSecPerCore float64 `json:"cloudtrail_records_per_sec_per_core"`
	FlowLinesPerSecPerCore         float64 `json:"vpcflow_v2_lines_per_sec_per_core"`
	CloudTrailUsPerRecord          float64 `json:"cloudtrail_us_per_record"`
	BytesPerPrincipalMetric        float64 `json:"bytes_per_principal_metric"`
	Recall                         float64 `json:"recall"`
	FalsePer1000PrincipalDays      float64 `json:"false_alerts_per_1000_principal_days"`
	KafkaRatioOfKcat               float64 `json:"kafka_ratio_of_kcat"`
}

// DefaultTargets are issue 6's.
var DefaultTargets = Targets{CloudTrailRecordsPerSecPerCore: 400_000, FlowLinesPerSecPerCore: 2_000_000,
	CloudTrailUsPerRecord: 2, BytesPerPrincipalMetric: 256, Recall: 0.95, FalsePer1000PrincipalDays: 1, KafkaRatioOfKcat: 0.9}

// Report is everything one run measured; report.json is this, indented.
type Report struct {
	Machine Machine        `json:"machine"`
	Scale   Scale          `json:"scale"`
	Started time.Time      `json:"started"`
	Seconds float64        `json:"seconds"`
	Targets Targets        `json:"targets"`
	GoBench []BenchResult  `json:"go_bench,omitempty"`
	Replay  *ReplayReport  `json:"replay"`
	Kafka   *KafkaResult   `json:"kafka"` // null: not measured yet
	Memory  *MemoryResult  `json:"memory"`
	Quality *QualityResult `json:"quality"`
	// QualityTuned scores the same files with RecommendedDetect.
	QualityTuned *QualityResult `json:"quality_recommended_config"`
	ScaleOut     *ScaleResult   `json:"scale_out"`        // the scale-out topology on Kafka; null: not measured
	Errors       []string       `json:"errors,omitempty"` // steps that failed; the others still ran
}

// ReplayReport is end-to-end replay against the ceilings of its stages.
type ReplayReport struct {
	Files          workload.FileStats `json:"files"`
	All            ReplayResult       `json:"all"`        // CloudTrail and flow logs
	CloudTrail     ReplayResult       `json:"cloudtrail"` // CloudTrail files only
	CloudTrailCeil []Ceiling          `json:"cloudtrail_ceilings"`
	RatioOfDecode  float64            `json:"ratio_of_decode"` // CloudTrail replay per core / open+gunzip+decode on one core
}

// Run runs the suite. A step that fails is recorded in Report.Errors and the
// others still run; the error is for what stops the whole run (a cancelled
// context, an unusable work directory).
func Run(ctx context.Context, opts Options) (*Report, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	sc := opts.Scale
	rep := &Report{Machine: ThisMachine(), Scale: sc, Started: time.Now().UTC(), Targets: DefaultTargets}
	work := opts.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "trailwatch-report-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		work = d
	}
	fail := func(step string, err error) {
		fmt.Fprintf(log, "  %s failed: %v\n", step, err)
		rep.Errors = append(rep.Errors, step+": "+err.Error())
	}
	t0 := time.Now()

	if sc.Benchtime != "" {
		root := opts.ModuleRoot
		if root == "" {
			root = findModuleRoot()
		}
		for _, gb := range goBenches(sc.Benchtime) {
			fmt.Fprintf(log, "go test -bench %s %s\n", gb.Pattern, gb.Package)
			t1 := time.Now()
			res, err := RunGoBench(ctx, root, gb)
			fmt.Fprintf(log, "  %.0fs\n", time.Since(t1).Seconds())
			if err != nil {
				fail("go bench "+gb.Package, err)
				continue
			}
			rep.GoBench = append(rep.GoBench, res...)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	fmt.Fprintf(log, "replay: generating %d principals, %s\n", sc.Principals, sc.Duration)
	t1 := time.Now()
	if rr, err := runReplay(ctx, filepath.Join(work, "replay"), sc); err != nil {
		fail("replay", err)
	} else {
		rep.Replay = rr
	}
	fmt.Fprintf(log, "  %.0fs\n", time.Since(t1).Seconds())
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Memory measures heap deltas: it runs before the Kafka step, whose
	// broker and client state is released by timers some time after it.
	if sc.MemoryPrincipals > 0 {
		fmt.Fprintf(log, "memory: %d principals\n", sc.MemoryPrincipals)
		m := MeasurePrincipalMemory(sc.MemoryPrincipals)
		rep.Memory = &m
	}

	if opts.Kafka != nil {
		fmt.Fprintln(log, "kafka end to end")
		if kr, err := opts.Kafka(ctx, sc, filepath.Join(work, "kafka")); err != nil {
			fail("kafka", err)
		} else {
			rep.Kafka = kr
		}
	}
	if opts.ScaleOut != nil {
		fmt.Fprintln(log, "scale-out on kafka: 1 and 2 instances, restore")
		t1 := time.Now()
		if sr, err := opts.ScaleOut(ctx, sc, filepath.Join(work, "scale")); err != nil {
			fail("scale-out", err)
		} else {
			rep.ScaleOut = sr
		}
		fmt.Fprintf(log, "  %.0fs\n", time.Since(t1).Seconds())
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}

	fmt.Fprintf(log, "quality: %d principals, %d+%d days\n", sc.Quality.Principals, sc.Quality.WarmUpDays, sc.Quality.ScoredDays)
	t1 = time.Now()
	if q, err := RunQuality(ctx, filepath.Join(work, "quality"), sc.Quality); err != nil {
		fail("quality", err)
	} else {
		rep.Quality = q
	}
	if rep.Quality != nil {
		spec := sc.Quality
		c := RecommendedDetect()
		spec.Detect = &c
		if q, err := ScoreQuality(ctx, filepath.Join(work, "quality"), spec); err != nil {
			fail("quality (recommended config)", err)
		} else {
			q.DetectConfigSource = RecommendedDetectText
			q.Timeline = nil
			rep.QualityTuned = q
		}
	}
	fmt.Fprintf(log, "  %.0fs\n", time.Since(t1).Seconds())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(t0).Seconds()
	return rep, nil
}

func runReplay(ctx context.Context, dir string, sc Scale) (*ReplayReport, error) {
	wc := workload.DefaultConfig()
	wc.Principals, wc.Instances, wc.Duration = sc.Principals, sc.Instances, sc.Duration
	wc.WarmUp = min(wc.WarmUp, sc.Duration/4)
	fs, err := GenerateFiles(dir, wc, false)
	if err != nil {
		return nil, err
	}
	rr := &ReplayReport{Files: fs}
	if rr.All, err = TimeReplay(ctx, ReplayOptions(dir), sc.ReplayRuns); err != nil {
		return nil, err
	}
	ct := ReplayOptions(dir)
	if ct.Inputs, err = filepath.Glob(filepath.Join(dir, "AWSLogs", "*", "CloudTrail")); err != nil {
		return nil, err
	}
	if len(ct.Inputs) == 0 {
		return nil, errors.New("no CloudTrail files generated")
	}
	if rr.CloudTrail, err = TimeReplay(ctx, ct, sc.ReplayRuns); err != nil {
		return nil, err
	}
	if rr.CloudTrailCeil, err = MeasureCeilings(ctx, dir, string(filepath.Separator)+"CloudTrail"+string(filepath.Separator)); err != nil {
		return nil, err
	}
	if c := rr.CloudTrailCeil[len(rr.CloudTrailCeil)-1]; c.RecordsPerSec > 0 {
		rr.RatioOfDecode = rr.CloudTrail.PerCore / c.RecordsPerSec
	}
	return rr, nil
}

// RecommendedDetectText says what RecommendedDetect changes.
const RecommendedDetectText = "detect defaults with sigma 4 and min_excess.egress_bytes 150 MiB (bench.RecommendedDetect)"

// RecommendedDetect is the detection config the quality benchmark
// recommends over the defaults: sigma 4 instead of 3, because with one-minute
// windows a busy principal has 1,440 chances a day to cross 3 sigma by chance
// (Poisson noise alone puts about 0.1% of windows there), and a minimum
// egress excess of 150 MiB instead of 50, because single S3 downloads are
// heavy-tailed and one 60 MB object is not an exfiltration. On the medium
// workload it removed every false alert without losing an incident (see
// report.md).
func RecommendedDetect() detect.Config {
	c := detect.Defaults()
	c.Sigma = 4
	c.MinExcess.EgressBytes = 150 << 20
	return c
}

// goBenches are the packages' own benchmarks the report runs.
func goBenches(bt string) []GoBench {
	return []GoBench{
		{Package: "./ingest/cloudtrail", Pattern: "^Benchmark(Record|DecodeRecordsFile)$", Benchtime: bt},
		{Package: "./ingest/vpcflow", Pattern: "^BenchmarkDecode(Line|Stream)$", Benchtime: bt},
		{Package: "./baseline", Pattern: "^BenchmarkStoreAdd$", Benchtime: bt, CPU: "1,2"},
		{Package: "./detect", Pattern: "^BenchmarkEngineProcess$", Benchtime: bt},
	}
}

// findModuleRoot walks up from the working directory to the go.mod.
func findModuleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// Write writes report.json, report.md and the SVG charts into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"report.json":    append(b, '\n'),
		"throughput.svg": []byte(r.ThroughputSVG()),
		"report.md":      []byte(r.Markdown()),
	}
	if r.Quality != nil && r.Quality.Timeline != nil {
		files["timeline.svg"] = []byte(TimelineSVG(r.Quality.Timeline, "Baseline as each window opened (baseline package statistics); machine: "+r.Machine.String()))
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ThroughputSVG is chart (a): CloudTrail records/s per core through each
// stage on its own and end to end, against the target and, when measured,
// the Kafka row.
func (r *Report) ThroughputSVG() string {
	var bars []Bar
	if rr := r.Replay; rr != nil {
		for _, c := range rr.CloudTrailCeil {
			bars = append(bars, Bar{Label: c.Name, Value: c.RecordsPerSec})
		}
		bars = append(bars, Bar{Label: "replay end to end (CloudTrail only)", Value: rr.CloudTrail.PerCore, Accent: true})
		bars = append(bars, Bar{Label: "replay end to end (with flow logs)", Value: rr.All.PerCore, Accent: true})
	}
	bars = append(bars, r.kafkaBars()...)
	foot := "records/s per core; one run, " + r.Machine.String()
	return BarChartSVG("Throughput against the parser ceiling (records/s per core)", "records/s/core", foot,
		bars, r.Targets.CloudTrailRecordsPerSecPerCore, "target 400k/core")
}

func (r *Report) kafkaBars() []Bar {
	if r.Kafka == nil {
		return []Bar{{Label: "Kafka: kcat read", Missing: "not measured yet"}, {Label: "Kafka: trailwatch serve", Missing: "not measured yet"}}
	}
	p := float64(r.Machine.GOMAXPROCS)
	return []Bar{{Label: "Kafka: kcat read", Value: r.Kafka.KcatPerSec / p}, {Label: "Kafka: trailwatch serve", Value: r.Kafka.ServePerSec / p, Accent: true}}
}

func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }

func okMark(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// find returns the first result whose name has the given prefix.
func (r *Report) find(name string) (BenchResult, bool) {
	for _, b := range r.GoBench {
		if b.Name == name {
			return b, true
		}
	}
	return BenchResult{}, false
}
