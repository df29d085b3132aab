package bench

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Markdown renders the report for people: the headline table of targets,
// then each measurement with the command that reproduces it.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# trailwatch benchmark report\n\n")
	w("Scale **%s**, run %s, %.0f s. Machine: %s.\n\n", r.Scale.Name, r.Started.Format(time.RFC3339), r.Seconds, r.Machine)
	w("Reproduce: `go run ./bench/cmd/report -scale %s -out DIR`. Absolute figures are for this machine, which may\n", r.Scale.Name)
	w("have been shared with other work; the ratios in one run are the comparable figures.\n\n")

	w("## Targets\n\n| # | measure | target | measured | |\n|---|---|---|---|---|\n")
	t := r.Targets
	if br, ok := r.find("BenchmarkDecodeRecordsFile/plain"); ok {
		us := br.Metrics["ns/record"] / 1000
		w("| 1 | CloudTrail decode, file of records, µs/record | ~%g | %.2f | %s |\n", t.CloudTrailUsPerRecord, us, okMark(us <= 1.25*t.CloudTrailUsPerRecord))
	}
	if br, ok := r.find("BenchmarkDecodeLine/v2"); ok {
		v := br.Metrics["lines/s"]
		w("| 1 | VPC flow v2 lines/s per core | ≥ %s | %s | %s |\n", fmtNum(t.FlowLinesPerSecPerCore), fmtNum(v), okMark(v >= t.FlowLinesPerSecPerCore))
	}
	if s, m, ok := r.storeRatio("1000k", 2); ok {
		w("| 2 | baseline store vs mutex map, 1M principals, 2 cores (routed), ns/op | faster | %.0f vs %.0f (%.2fx) | %s |\n", s, m, m/s, okMark(s < m))
	}
	if rr := r.Replay; rr != nil {
		v := rr.CloudTrail.PerCore
		w("| 3 | replay end to end, CloudTrail records/s per core | ≥ %s | %s (%s of the one-core decode ceiling) | %s |\n",
			fmtNum(t.CloudTrailRecordsPerSecPerCore), fmtNum(v), pct(rr.RatioOfDecode), okMark(v >= t.CloudTrailRecordsPerSecPerCore))
	}
	if k := r.Kafka; k != nil {
		w("| 4 | Kafka end to end, share of kcat's rate | ≥ %s | %s | %s |\n", pct(t.KafkaRatioOfKcat), pct(k.RatioOfKcat), okMark(k.RatioOfKcat >= t.KafkaRatioOfKcat))
	} else {
		w("| 4 | Kafka end to end, share of kcat's rate | ≥ %s | not measured yet | |\n", pct(t.KafkaRatioOfKcat))
	}
	if m := r.Memory; m != nil {
		w("| 5 | heap per principal-metric at %s principals, bytes | ≤ %g | %.0f (%.0f per principal) | %s |\n",
			fmtNum(float64(m.Principals)), t.BytesPerPrincipalMetric, m.BytesPerMetric, m.BytesPerPrincipal, okMark(m.BytesPerMetric <= t.BytesPerPrincipalMetric))
	}
	for _, x := range []struct {
		name string
		q    *QualityResult
	}{{"default config", r.Quality}, {"recommended config", r.QualityTuned}} {
		q := x.q
		if q == nil {
			continue
		}
		w("| 6 | recall, %s | ≥ %s | %s (%d of %d) | %s |\n", x.name, pct(t.Recall), pct(q.Recall), q.Caught, q.Incidents, okMark(q.Recall >= t.Recall))
		w("| 6 | false alerts per 1,000 principal-days, %s | ≤ %g | %.2f (%d in %d) | %s |\n", x.name, t.FalsePer1000PrincipalDays, q.FalsePer1000PDays, q.FalseAlerts, q.PrincipalDays, okMark(q.FalsePer1000PDays <= t.FalsePer1000PrincipalDays))
		w("| 6 | detection latency median / max, %s | well under a %s window | %s / %s | %s |\n", x.name, secs(q.WindowSec), secs(q.LatencyMedianSec), secs(q.LatencyMaxSec), okMark(q.LatencyMedianSec < q.WindowSec/2))
	}
	w("\n")
	if len(r.Errors) > 0 {
		w("## Steps that failed\n\n")
		for _, e := range r.Errors {
			w("- `%s`\n", firstLine(e))
		}
		w("\n")
	}
	r.mdReplay(&b)
	r.mdKafka(&b)
	r.mdScaleOut(&b)
	r.mdGoBench(&b)
	r.mdMemory(&b)
	r.mdQuality(&b, r.Quality, true)
	r.mdQuality(&b, r.QualityTuned, false)
	return b.String()
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// storeRatio returns the routed store's and mutex map's ns/op at n principals
// and procs cores.
func (r *Report) storeRatio(n string, procs int) (store, mmap float64, ok bool) {
	var hs, hm bool
	for _, b := range r.GoBench {
		if b.Procs != procs {
			continue
		}
		switch b.Name {
		case "BenchmarkStoreAdd/principals=" + n + "/store-routed":
			store, hs = b.Metrics["ns/op"], true
		case "BenchmarkStoreAdd/principals=" + n + "/mutexmap-routed":
			mmap, hm = b.Metrics["ns/op"], true
		}
	}
	return store, mmap, hs && hm && store > 0
}

func (r *Report) mdReplay(b *strings.Builder) {
	rr := r.Replay
	if rr == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Throughput\n\n![throughput](throughput.svg)\n\n")
	w("A generated day (%d principals, %d instances; %d CloudTrail records in %d files, %d flow records in %d files, %s gzip),\n",
		r.Scale.Principals, r.Scale.Instances, rr.Files.CloudTrailRecords, rr.Files.CloudTrailFiles, rr.Files.FlowRecords, rr.Files.FlowFiles, fmtBytes(rr.Files.Bytes))
	w("replayed through `internal/replay` as `trailwatch replay` runs it (GOMAXPROCS %d, fastest of %d runs):\n\n", rr.All.Procs, r.Scale.ReplayRuns)
	w("| run | records | seconds | records/s | records/s per core | alerts |\n|---|---|---|---|---|---|\n")
	for _, x := range []struct {
		name string
		r    ReplayResult
	}{{"CloudTrail only", rr.CloudTrail}, {"CloudTrail and flow logs", rr.All}} {
		w("| %s | %d | %.2f | %s | %s | %d |\n", x.name, x.r.Records, x.r.Seconds, fmtNum(x.r.RecordsPerSec), fmtNum(x.r.PerCore), x.r.Alerts)
	}
	w("\nThe stages alone, on one goroutine, over the same CloudTrail files:\n\n| stage | records/s (one core) |\n|---|---|\n")
	for _, c := range rr.CloudTrailCeil {
		w("| %s | %s |\n", c.Name, fmtNum(c.RecordsPerSec))
	}
	w("\nEnd to end runs at **%s** of the one-core open+gunzip+decode rate per core.\n\n", pct(rr.RatioOfDecode))
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func (r *Report) mdGoBench(b *strings.Builder) {
	if len(r.GoBench) == 0 {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Package benchmarks\n\n`go test -run '^$' -bench ... -benchtime %s` in each package (baseline also `-cpu 1,2`):\n\n", r.Scale.Benchtime)
	w("| package | benchmark | cores | ns/op | MB/s | B/op | allocs/op | other |\n|---|---|---|---|---|---|---|---|\n")
	for _, br := range r.GoBench {
		var other []string
		keys := make([]string, 0, len(br.Metrics))
		for k := range br.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch k {
			case "ns/op", "MB/s", "B/op", "allocs/op":
			default:
				other = append(other, fmt.Sprintf("%s %s", fmtNum(br.Metrics[k]), k))
			}
		}
		pkg := br.Package
		if i := strings.Index(pkg, "trailwatch/trailwatch/"); i >= 0 {
			pkg = pkg[i+len("trailwatch/trailwatch/"):]
		}
		w("| %s | %s | %d | %s | %s | %s | %s | %s |\n", pkg, strings.TrimPrefix(br.Name, "Benchmark"), br.Procs,
			metric(br, "ns/op"), metric(br, "MB/s"), metric(br, "B/op"), metric(br, "allocs/op"), strings.Join(other, ", "))
	}
	w("\n")
}

func metric(br BenchResult, unit string) string {
	v, ok := br.Metrics[unit]
	if !ok {
		return ""
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

func (r *Report) mdMemory(b *strings.Builder) {
	m := r.Memory
	if m == nil {
		return
	}
	fmt.Fprintf(b, "## Memory\n\n%d principals (%d-byte keys), each with history in all three metrics and one open window: "+
		"**%.0f bytes** of heap per principal, %.0f per principal-metric (the store's own estimate: %.0f per principal). "+
		"Measured in process (`bench.MeasurePrincipalMemory`), heap after GC; `go test -run '^$' -bench BenchmarkMemoryPerPrincipal -benchtime 1x ./bench` "+
		"reproduces it.\n\n", m.Principals, m.KeyBytes, m.BytesPerPrincipal, m.BytesPerMetric, m.EstimatePerPrincipal)
}

func (r *Report) mdQuality(b *strings.Builder, q *QualityResult, first bool) {
	if q == nil {
		return
	}
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	if first {
		w("## Detection quality\n\n")
	} else {
		w("### The same files with the recommended config\n\n")
	}
	w("%d principals and %d instances generated for %d days (seed %d); incidents (%d of each kind) only in the last %d day(s), which alone are scored "+
		"(%s to %s, %d principal-days). The first %d days are warm-up: the detector learns the daily rhythm (%d alerts there are not scored). "+
		"Detection config: %s. %d records replayed.\n\n",
		q.Spec.Principals, q.Spec.Instances, q.Spec.WarmUpDays+q.Spec.ScoredDays, q.Spec.Seed, q.Spec.IncidentsPerKind, q.Spec.ScoredDays,
		q.ScoredFrom.Format(time.RFC3339), q.ScoredTo.Format(time.RFC3339), q.PrincipalDays, q.Spec.WarmUpDays, q.WarmUpAlerts, q.DetectConfigSource, q.Records)
	w("Recall **%s** (%d of %d), **%d false alerts** (%.2f per 1,000 principal-days; %d of them scored against a peer group), median latency %s (max %s) from the first incident record's time to the alert's detected_at.\n\n",
		pct(q.Recall), q.Caught, q.Incidents, q.FalseAlerts, q.FalsePer1000PDays, q.FalseColdStart, secs(q.LatencyMedianSec), secs(q.LatencyMaxSec))
	if q.Timeline != nil {
		w("![timeline](timeline.svg)\n\n")
	}
	w("| incident | metric | principal | caught | latency |\n|---|---|---|---|---|\n")
	for _, o := range q.Outcomes {
		lat := ""
		if o.Caught {
			lat = secs(o.LatencySec)
		}
		w("| %s | %s | `%s` | %v | %s |\n", o.ID, o.Metric, o.Principal, o.Caught, lat)
	}
	if len(q.FalseAlertDetail) > 0 {
		w("\nFalse alerts:\n\n| detected | metric | principal | observed | mean | σ used | z | history windows | peer group |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, a := range q.FalseAlertDetail {
			w("| %s | %s | `%s` | %s | %s | %s | %.1f | %d | %s |\n", a.DetectedAt.Format(time.RFC3339), a.Metric, a.Principal,
				fmtNum(a.Observed), fmtNum(a.Mean), fmtNum(a.StdDev), a.ZScore, a.BaselineWindows, a.PeerGroup)
		}
	}
	w("\n")
}
