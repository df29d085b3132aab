package workload

import (
	"testing"
	"time"
)

// BenchmarkGenerate measures records rendered per second on one goroutine
// (the cost a benchmark pays for its input). SetBytes is the mean body size,
// so MB/s is body bytes produced.
func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"cloudtrail-300", Config{Seed: 1, Principals: 300, RatePerMinute: 50, NoFlows: true, Duration: 7 * 24 * time.Hour}},
		{"cloudtrail-1M", Config{Seed: 1, Principals: 1_000_000, RatePerMinute: 0.05, NoFlows: true, Duration: 7 * 24 * time.Hour}},
		{"mixed-default", Config{Seed: 1, RatePerMinute: 50, FlowsPerMinute: 50, Duration: 7 * 24 * time.Hour, Incidents: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			var r Record
			var bytes int64
			// warm the key cache and size the buffers
			for range 1000 {
				g.Next(&r)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !g.Next(&r) {
					b.Fatal("generator ran out")
				}
				bytes += int64(len(r.Body))
			}
			b.StopTimer()
			b.SetBytes(bytes / int64(b.N))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
