package bench

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// tinyScaleOut is a scale-out row small enough for a unit test under -race.
func tinyScaleOut(t testing.TB) ScaleSpec {
	return ScaleSpec{Seed: 3, Principals: 30, Instances: 4, Duration: 3 * time.Hour, Records: 5000,
		InputPartitions: 4, Partitions: 4, Runs: 1, RestorePrincipals: 2000, EventsPerPrincipal: 3, WorkDir: t.TempDir()}
}

// TestMeasureScale runs the scale-out row at a tiny size. MeasureScale
// itself fails unless both stages committed the end of every partition,
// stage 1 processed every input message and stage 2 every event; the test
// checks that the figures agree with each other and with the spec: every
// principal restored from a changelog of one record per principal plus the
// engine's, and the snapshot fast path reading none of it.
func TestMeasureScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers and serve instances")
	}
	spec := tinyScaleOut(t)
	msgs, err := KafkaMessages(KafkaSpec{Seed: spec.Seed, Principals: spec.Principals, Instances: spec.Instances,
		Duration: spec.Duration, MaxRecords: spec.Records})
	if err != nil {
		t.Fatal(err)
	}
	r, err := MeasureScale(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != int64(len(msgs)) || r.Partitions != spec.Partitions {
		t.Errorf("records, partitions = %d, %d; want %d, %d", r.Records, r.Partitions, len(msgs), spec.Partitions)
	}
	for _, run := range []struct {
		r    ScaleRun
		inst int
	}{{r.One, 1}, {r.Two, 2}} {
		x := run.r
		if x.Instances != run.inst || x.FirstSeconds <= 0 || x.FirstSeconds > x.IngestSeconds || x.IngestSeconds > x.Seconds ||
			(runtime.GOOS == "linux" && x.CoresBusy <= 0) {
			t.Errorf("%d instance(s): %+v", run.inst, x)
		}
		if want := float64(r.Records) / x.Seconds; x.RecordsPerSec != want {
			t.Errorf("%d instance(s): %v records/s, want records/seconds = %v", run.inst, x.RecordsPerSec, want)
		}
		if x.Events <= 0 || x.Consumed < x.Events {
			t.Errorf("%d instance(s): %d events produced, %d processed by stage 2", run.inst, x.Events, x.Consumed)
		}
	}
	// One instance makes one event of each record with a principal; with
	// two, the rebalance may replay what was not committed yet.
	if r.One.Events > r.Records || r.Two.Events < r.One.Events {
		t.Errorf("stage 1 produced %d events with one instance, %d with two, from %d records", r.One.Events, r.Two.Events, r.Records)
	}
	if want := r.Two.RecordsPerSec / r.One.RecordsPerSec; r.RatioTwoToOne != want {
		t.Errorf("ratio = %v, want %v", r.RatioTwoToOne, want)
	}

	st := r.Restore
	if want := int64(spec.RestorePrincipals * spec.EventsPerPrincipal); st.Events != want || st.BuildPerSec <= 0 {
		t.Errorf("restore built from %d events at %v/s, want %d", st.Events, st.BuildPerSec, want)
	}
	c := st.Changelog
	if st.Principals != spec.RestorePrincipals || c.Principals != spec.RestorePrincipals || c.Source != "changelog" {
		t.Errorf("changelog restore: %d principals (%+v), want %d from the changelog", st.Principals, c, spec.RestorePrincipals)
	}
	// One per principal, the engine's own, and the raw positions that drop
	// stage 1's copies.
	if c.Records != int64(spec.RestorePrincipals)+2 {
		t.Errorf("changelog records = %d, want one per principal, the engine's and the positions: %d", c.Records, spec.RestorePrincipals+2)
	}
	if c.Seconds <= 0 || c.Bytes <= 0 || c.SecondsPer100k != c.Seconds*100_000/float64(c.Principals) ||
		c.BytesPerPrincipal != float64(c.Bytes)/float64(c.Principals) {
		t.Errorf("changelog restore figures inconsistent: %+v", c)
	}
	if s := st.Snapshot; s == nil {
		t.Error("no snapshot restore: the instance wrote no local snapshot")
	} else if s.Source != "snapshot" || s.Principals != spec.RestorePrincipals || s.Records != 0 || s.Bytes <= 0 {
		t.Errorf("snapshot restore = %+v, want every principal and no changelog record", s)
	}
	if !strings.Contains(r.Note, "cores") || r.Broker == "" {
		t.Errorf("note or broker missing: %+v", r)
	}
	t.Logf("%d records: 1 instance %+v; 2 instances %+v; restore %+v", r.Records, r.One, r.Two, st)
}

// TestScaleOutReport: the row round-trips through report.json as
// "scale_out" and report.md has its section with both rates, the restore
// figures and the honest note.
func TestScaleOutReport(t *testing.T) {
	rep := &Report{Machine: ThisMachine(), Scale: tinyScale(), Targets: DefaultTargets, ScaleOut: &ScaleResult{
		Records: 100_000, Partitions: 4, Broker: "kfake",
		One:           ScaleRun{Instances: 1, Seconds: 4, FirstSeconds: 0.5, IngestSeconds: 3, RecordsPerSec: 25_000, Events: 99_000, Consumed: 99_000},
		Two:           ScaleRun{Instances: 2, Seconds: 5, FirstSeconds: 0.9, IngestSeconds: 4, RecordsPerSec: 20_000, Events: 99_000, Consumed: 99_500},
		RatioTwoToOne: 0.8,
		Restore: ScaleStore{Principals: 100_000, Events: 400_000, BuildPerSec: 50_000,
			Changelog: RestoreRun{Source: "changelog", Principals: 100_000, Records: 100_001, Bytes: 30_000_000, Seconds: 2, SecondsPer100k: 2, BytesPerPrincipal: 300},
			Snapshot:  &RestoreRun{Source: "snapshot", Principals: 100_000, Bytes: 29_000_000, Seconds: 0.5, SecondsPer100k: 0.5, BytesPerPrincipal: 290}},
		Note: "shared cores"}}
	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var back ScaleResult
	if err := json.Unmarshal(raw["scale_out"], &back); err != nil {
		t.Fatalf("scale_out: %v", err)
	}
	if back.Two.RecordsPerSec != 20_000 || back.Restore.Changelog.SecondsPer100k != 2 || back.Restore.Snapshot == nil {
		t.Errorf("scale_out round trip = %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Scale-out on Kafka", "| **25k** |", "| **20k** |", "80%", "2.00 s", "300 bytes", "shared cores", "BenchmarkScaleOut"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	rep.ScaleOut = nil
	if md := rep.Markdown(); !strings.Contains(md, "Scale-out on Kafka") || !strings.Contains(md, "not measured") {
		t.Errorf("without the row report.md should say it was not measured")
	}
}

var scaleOutScale = flag.String("scaleout.scale", "small", "report scale of BenchmarkScaleOut")

// BenchmarkScaleOut measures the report's scale-out row at a report scale
// (ScaleSpecOf) once per iteration; it is how the row's figures are
// reproduced without running the whole report:
//
//	go test -run '^$' -bench BenchmarkScaleOut -benchtime 1x -timeout 30m ./bench
func BenchmarkScaleOut(b *testing.B) {
	sc, ok := Scales[*scaleOutScale]
	if !ok {
		b.Fatalf("-scaleout.scale %q is not a report scale", *scaleOutScale)
	}
	spec := ScaleSpecOf(sc)
	spec.WorkDir = b.TempDir()
	b.ReportAllocs()
	var r *ScaleResult
	for b.Loop() {
		var err error
		if r, err = MeasureScale(context.Background(), spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.One.RecordsPerSec, "records/s-1inst")
	b.ReportMetric(r.Two.RecordsPerSec, "records/s-2inst")
	b.ReportMetric(r.RatioTwoToOne, "ratio-2:1")
	b.ReportMetric(r.Restore.Changelog.SecondsPer100k, "restore-s/100k-principals")
	b.ReportMetric(r.Restore.Changelog.BytesPerPrincipal, "changelog-B/principal")
	if s := r.Restore.Snapshot; s != nil {
		b.ReportMetric(s.SecondsPer100k, "snapshot-restore-s/100k-principals")
	}
	b.Logf("one instance %+v; two %+v; restore %+v, snapshot %+v", r.One, r.Two, r.Restore, r.Restore.Snapshot)
	b.Log(r.Note)
}
