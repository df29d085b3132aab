package baseline

import (
	"math"
	"time"
)

// Metric is one of the per-principal quantities trailwatch baselines.
type Metric uint8

const (
	APICalls    Metric = iota // CloudTrail records in the window
	APIErrors                 // CloudTrail records with an errorCode
	EgressBytes               // S3 bytesTransferredOut, or egress flow bytes
	NumMetrics
)

var metricNames = [NumMetrics]string{"api_calls", "api_errors", "egress_bytes"}

// String returns the metric's name as used in alerts, config and metrics.
func (m Metric) String() string {
	if m < NumMetrics {
		return metricNames[m]
	}
	return "unknown"
}

// ParseMetric is the inverse of String.
func ParseMetric(s string) (Metric, bool) {
	for i, n := range metricNames {
		if n == s {
			return Metric(i), true
		}
	}
	return 0, false
}

// IsCount reports whether the metric counts events (and so has a Poisson
// noise floor), as opposed to summing bytes.
func (m Metric) IsCount() bool { return m == APICalls || m == APIErrors }

// Values holds one number per metric.
type Values [NumMetrics]float64

// Decay is the per-window weight factor of an exponentially weighted baseline:
// an observation k windows old weighs Beta^k. It is derived from a half-life.
type Decay struct {
	Beta float64 // in (0, 1]; 1 means no forgetting
}

// NewDecay returns the decay for windows of the given length such that an
// observation's weight halves every halfLife. A zero or negative halfLife
// means no forgetting.
func NewDecay(halfLife, window time.Duration) Decay {
	if halfLife <= 0 || window <= 0 {
		return Decay{Beta: 1}
	}
	return Decay{Beta: math.Exp2(-float64(window) / float64(halfLife))}
}

// Stats is an exponentially weighted mean and variance over a sequence of
// per-window values, one per window since the principal was first seen.
// Windows in which the principal was idle count as zeros, folded in closed
// form when the next value arrives (or when a view is taken), so an idle
// principal costs nothing per window.
//
// The update is West's weighted incremental algorithm (a weighted Welford)
// with weights decaying by Beta per window; it never subtracts large sums, so
// it stays accurate over long series.
type Stats struct {
	Weight  float64 // total weight of the observations, sum of Beta^age
	Mean    float64 // weighted mean
	M2      float64 // weighted sum of squared deviations from Mean
	Windows uint32  // number of windows observed, idle ones included (saturates)
	Last    int64   // index of the newest window folded in
}

// Empty reports whether nothing has been observed.
func (s *Stats) Empty() bool { return s.Windows == 0 }

// Variance is the weighted population variance.
func (s *Stats) Variance() float64 {
	if s.Weight <= 0 {
		return 0
	}
	v := s.M2 / s.Weight
	if v < 0 {
		return 0
	}
	return v
}

// StdDev is the square root of Variance.
func (s *Stats) StdDev() float64 { return math.Sqrt(s.Variance()) }

// Observe folds the value x of window w. Windows between the last observed
// one and w are folded as zeros first. Windows must be observed in increasing
// order; an observation for a window at or before Last is added to the
// newest window's value instead, which keeps the statistics well-defined
// (callers close windows in order, so this only happens after a restore).
func (s *Stats) Observe(d Decay, w int64, x float64) {
	if s.Windows == 0 {
		*s = Stats{Weight: 1, Mean: x, Windows: 1, Last: w}
		return
	}
	if w <= s.Last {
		// Fold into the newest window: equivalent to that window's value
		// having been larger by x.
		delta := x / s.Weight
		s.Mean += delta
		s.M2 += x * (x - delta) // keeps M2 >= 0; an approximation used only on restore races
		return
	}
	if gap := w - s.Last - 1; gap > 0 {
		s.foldZeros(d, gap)
	}
	s.Weight *= d.Beta
	s.M2 *= d.Beta
	s.Weight++
	delta := x - s.Mean
	s.Mean += delta / s.Weight
	s.M2 += delta * (x - s.Mean)
	s.incWindows(1)
	s.Last = w
}

// At returns the statistics as they stand when window w opens: every window
// before w that was not observed is folded as a zero. The receiver is not
// changed.
func (s Stats) At(d Decay, w int64) Stats {
	if s.Windows == 0 {
		return s
	}
	if gap := w - 1 - s.Last; gap > 0 {
		s.foldZeros(d, gap)
	}
	return s
}

// foldZeros folds k consecutive zero-valued windows after Last in closed form.
// The k zeros weigh Beta^0..Beta^(k-1) relative to the newest; the existing
// observations decay by Beta^k; the two groups merge by Chan's formula.
func (s *Stats) foldZeros(d Decay, k int64) {
	var b, z float64
	if d.Beta >= 1 {
		b, z = 1, float64(k)
	} else {
		b = math.Pow(d.Beta, float64(k))
		z = -math.Expm1(float64(k)*math.Log(d.Beta)) / (1 - d.Beta) // (1-b)/(1-Beta), accurate for b near 1
	}
	a := b * s.Weight
	tot := a + z
	if tot <= 0 || math.IsInf(tot, 0) {
		return
	}
	m := s.Mean
	s.Mean = a * m / tot
	s.M2 = b*s.M2 + a*z/tot*m*m
	s.Weight = tot
	s.incWindows(k)
	s.Last += k
}

func (s *Stats) incWindows(k int64) {
	n := int64(s.Windows) + k
	if n > math.MaxUint32 {
		n = math.MaxUint32
	}
	s.Windows = uint32(n)
}
