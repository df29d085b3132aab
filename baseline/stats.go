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

// beta returns Beta clamped to [0, 1]; NaN means no forgetting.
func (d Decay) beta() float64 {
	switch b := d.Beta; {
	case b >= 0 && b <= 1:
		return b
	case b < 0:
		return 0
	default: // > 1 or NaN
		return 1
	}
}

// zeroWeights returns, for k >= 1 zero-valued windows appended to a series,
// b = Beta^k (the factor by which the older observations decay) and
// z = Beta^0 + ... + Beta^(k-1) = (1-Beta^k)/(1-Beta) (the zeros' total weight).
//
// With t = k·ln Beta, b = exp(t) and z = -expm1(t)/(1-Beta). For Beta close
// to 1 (a 7-day half-life over 1-minute windows gives 1-Beta = 6.9e-5) the
// direct (1-b)/(1-Beta) would lose about half of the significant digits to
// cancellation; 1-Beta itself is exact (Sterbenz) and ln Beta is computed as
// log1p(Beta-1), so z keeps full relative precision for every k, and b is
// within about |t|·2^-52 (math.Pow is worse here: up to 1e-8 relative for
// exponents near 1e9). For huge k, b underflows to 0 and z tends to
// 1/(1-Beta), as it should.
func (d Decay) zeroWeights(k int64) (b, z float64) {
	beta := d.beta()
	switch {
	case beta == 1:
		return 1, float64(k)
	case beta == 0:
		return 0, 1
	}
	t := float64(k) * math.Log1p(beta-1)
	return math.Exp(t), -math.Expm1(t) / (1 - beta)
}

// Stats is an exponentially weighted mean and variance over a sequence of
// per-window values, one per window since the principal was first seen.
// Windows in which the principal was idle count as zeros, folded in closed
// form when the next value arrives (or when a view is taken), so an idle
// principal costs nothing per window.
//
// The observation of window i, seen from window Last, weighs Beta^(Last-i),
// so the newest always weighs 1 and Weight = sum of Beta^age. Mean is the
// weighted mean and M2 the weighted sum of squared deviations from it, so
// M2/Weight is the weighted population variance.
//
// The update is West's weighted incremental algorithm (a weighted Welford)
// with weights decaying by Beta per window; it never subtracts large sums, so
// it stays accurate over long series. Every operation is deterministic: the
// same calls give bit-identical results (explicit float64 conversions stop
// the compiler from fusing multiply-adds on architectures that have FMA).
type Stats struct {
	Weight  float64 // total weight of the observations, sum of Beta^age
	Mean    float64 // weighted mean
	M2      float64 // weighted sum of squared deviations from Mean
	Windows uint32  // number of windows observed, idle ones included (saturates)
	Last    int64   // index of the newest window folded in
	Newest  float64 // value of window Last (0 when Last was an idle window folded as zero)
}

// Empty reports whether nothing has been observed.
func (s *Stats) Empty() bool { return s.Windows == 0 }

// Variance is the weighted population variance.
func (s *Stats) Variance() float64 {
	if s.Weight <= 0 {
		return 0
	}
	v := s.M2 / s.Weight
	if v < 0 || v != v {
		return 0
	}
	return v
}

// StdDev is the square root of Variance.
func (s *Stats) StdDev() float64 { return math.Sqrt(s.Variance()) }

// Observe folds the value x of window w.
//
// For w > Last, the windows strictly between Last and w are folded as zeros
// first (in closed form), then x is folded as window w's value.
//
// For w <= Last (a value that arrives after its window was folded in), x is
// added to the value of window Last: the result is exactly what Observe would
// have produced had window Last's value been larger by x (Windows and Last do
// not change). The value keeps its weight in the baseline, dated to the newest
// window rather than its own, because the older windows' individual values are
// not kept. The store only does this for events that reach it after their
// window was closed; the detection stage closes windows in order and drops
// such events before they get here.
func (s *Stats) Observe(d Decay, w int64, x float64) {
	if s.Windows == 0 {
		*s = Stats{Weight: 1, Mean: x, Windows: 1, Last: w, Newest: x}
		return
	}
	if w <= s.Last {
		s.addToNewest(x)
		return
	}
	if gap := w - s.Last - 1; gap > 0 {
		s.foldZeros(d, gap)
	}
	s.step(d.beta(), w, x)
}

// step folds x as the value of window w = Last+1 (any idle gap already
// folded): older weights decay by beta and x joins with weight 1.
func (s *Stats) step(beta float64, w int64, x float64) {
	s.Weight = float64(s.Weight*beta) + 1
	delta := x - s.Mean
	s.Mean += delta / s.Weight
	s.M2 = float64(s.M2*beta) + float64(delta*(x-s.Mean))
	s.Newest = x
	s.incWindows(1)
	s.Last = w
}

// addToNewest changes window Last's value from Newest to Newest+x. That
// observation weighs 1, so with m the old mean and W the weight:
//
//	mean' = m + x/W
//	M2'   = M2 + x·(Newest-m) + x·(Newest+x-mean')
//
// (the change of sum w·v² - W·mean², written Welford-style so that no large
// sums are subtracted).
func (s *Stats) addToNewest(x float64) {
	m := s.Mean
	s.Mean = m + x/s.Weight
	s.M2 += float64(x*(s.Newest-m)) + float64(x*(s.Newest+x-s.Mean))
	if s.M2 < 0 {
		s.M2 = 0 // rounding only; M2 is a sum of squares
	}
	s.Newest += x
}

// At returns the statistics as they stand when window w opens: every window
// before w that was not observed is folded as a zero. The receiver is not
// changed. For w <= Last+1 it returns s as is, so At is idempotent and
// At(w) followed by Observe(w, x) is bit-identical to Observe(w, x).
func (s Stats) At(d Decay, w int64) Stats {
	if s.Windows == 0 {
		return s
	}
	if gap := w - 1 - s.Last; gap > 0 {
		s.foldZeros(d, gap)
	}
	return s
}

// foldZeros folds k >= 1 consecutive zero-valued windows after Last in closed
// form. The k zeros, weighing Beta^0..Beta^(k-1) relative to the newest, form
// a group of weight z, mean 0 and no spread; the existing observations decay
// by b = Beta^k to weight a = b·Weight with unchanged mean m and M2 scaled by
// b. Chan's parallel merge of the two groups gives
//
//	Weight' = a + z
//	Mean'   = a·m / (a+z)
//	M2'     = b·M2 + (a·z/(a+z))·m²
//
// which equals folding the k zeros one by one (up to rounding) in O(1).
func (s *Stats) foldZeros(d Decay, k int64) {
	b, z := d.zeroWeights(k)
	s.applyZeros(b, z, k)
}

// applyZeros is foldZeros with the weights precomputed, so that the store can
// share one zeroWeights call among the metrics of a principal.
func (s *Stats) applyZeros(b, z float64, k int64) {
	a := float64(b * s.Weight)
	tot := a + z
	m := s.Mean
	if tot > 0 && !math.IsInf(tot, 0) {
		s.Mean = float64(a*m) / tot
		s.M2 = float64(b*s.M2) + float64(float64(a*z)/tot*m)*m
		s.Weight = tot
	}
	s.Newest = 0
	s.incWindows(k)
	s.Last += k
}

func (s *Stats) incWindows(k int64) {
	n := int64(s.Windows) + k
	if n > math.MaxUint32 || n < 0 {
		n = math.MaxUint32
	}
	s.Windows = uint32(n)
}
