package bench

import (
	"runtime"
	"strconv"

	"github.com/trailwatch/trailwatch/baseline"
)

// MemoryResult is the heap held per tracked principal.
type MemoryResult struct {
	Principals           int     `json:"principals"`
	BytesPerPrincipal    float64 `json:"bytes_per_principal"`
	BytesPerMetric       float64 `json:"bytes_per_principal_metric"` // per principal and metric (three metrics)
	EstimatePerPrincipal float64 `json:"store_estimate_per_principal"`
	KeyBytes             int     `json:"key_bytes"` // length of each principal key
}

// memKey is an assumed-role ARN of realistic length (69 bytes, as in
// baseline's own benchmark).
func memKey(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 7 {
		s = "0" + s
	}
	return "arn:aws:sts::123456789012:assumed-role/service-role-" + s + "/session"
}

// MeasurePrincipalMemory fills a baseline store with n principals, each with
// history in all three metrics (two closed windows) and one open window, the
// state of a busy principal, and returns the heap it holds (after GC) per
// principal. It uses only the store's public API.
func MeasurePrincipalMemory(n int) MemoryResult {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := baseline.New(baseline.Options{MaxPrincipals: max(n, 1_000_000)})
	meta := baseline.Meta{Type: 3, Account: "123456789012"}
	for w := int64(0); w < 3; w++ {
		for i := range n {
			s.Add(memKey(i), meta, w, baseline.Values{float64(i%7 + 1), float64(i % 3), float64(i)})
		}
		if w < 2 {
			for sh := range s.NumShards() {
				s.CloseWindow(sh, w, nil)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	r := MemoryResult{
		Principals:           n,
		BytesPerPrincipal:    heap / float64(n),
		BytesPerMetric:       heap / float64(n) / float64(baseline.NumMetrics),
		EstimatePerPrincipal: float64(s.Stats().Bytes) / float64(n),
		KeyBytes:             len(memKey(0)),
	}
	runtime.KeepAlive(s)
	return r
}
