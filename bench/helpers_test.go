package bench

import (
	"runtime"
	"testing"
)

// reportRecordRate adds records/s and records/s/core metrics for n records per op.
func reportRecordRate(b *testing.B, n int64) {
	b.Helper()
	secs := b.Elapsed().Seconds()
	if secs <= 0 {
		return
	}
	rate := float64(n) * float64(b.N) / secs
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(rate/float64(runtime.GOMAXPROCS(0)), "records/s/core")
}
