package bench

import (
	"context"
	"testing"
)

// BenchmarkMemoryPerPrincipal reports the heap held per tracked principal
// at 1M principals with all three metrics' history and an open window.
// Run with -benchtime=1x.
func BenchmarkMemoryPerPrincipal(b *testing.B) {
	b.ReportAllocs()
	var m MemoryResult
	for range b.N {
		m = MeasurePrincipalMemory(1_000_000)
	}
	b.ReportMetric(m.BytesPerPrincipal, "B/principal")
	b.ReportMetric(m.BytesPerMetric, "B/principal-metric")
}

// BenchmarkQuality is the detection-quality run of the small report scale
// as a benchmark: 300 principals, four days of warm-up and one scored day
// with two incidents of each kind. The figures are metrics; time per op is
// generation plus replay. Run with -benchtime=1x.
func BenchmarkQuality(b *testing.B) {
	var q *QualityResult
	for range b.N {
		var err error
		q, err = RunQuality(context.Background(), b.TempDir(), Scales["small"].Quality)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(q.Recall*100, "recall-%")
	b.ReportMetric(q.FalsePer1000PDays, "false/1000pd")
	b.ReportMetric(q.LatencyMedianSec, "latency-median-s")
	b.ReportMetric(float64(q.Records), "records")
}
