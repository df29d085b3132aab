package baseline

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// point is one observed window of a test series; windows not listed are zeros.
type point struct {
	w int64
	x float64
}

const refPrec = 256

// reference computes the weighted statistics of a series the slow, obvious
// way, in 256-bit floating point: every window from the first point to last
// (inclusive) gets its explicit weight beta^(last-i), zeros for the windows
// not listed; then a weighted mean and, in a second pass, the weighted
// population variance. Points must be in increasing window order; a repeated
// window adds to that window's value.
func reference(beta float64, pts []point, last int64) (weight, mean, variance float64) {
	vals := map[int64]float64{}
	for _, p := range pts {
		vals[p.w] += p.x
	}
	first := pts[0].w
	n := int(last - first + 1)
	w := make([]*big.Float, n) // w[j] is the weight of window last-j
	bb := new(big.Float).SetPrec(refPrec).SetFloat64(beta)
	cur := new(big.Float).SetPrec(refPrec).SetInt64(1)
	for j := range w {
		w[j] = new(big.Float).SetPrec(refPrec).Set(cur)
		cur.Mul(cur, bb)
	}
	W := new(big.Float).SetPrec(refPrec)
	S := new(big.Float).SetPrec(refPrec)
	t := new(big.Float).SetPrec(refPrec)
	for j := range w {
		W.Add(W, w[j])
		if x := vals[last-int64(j)]; x != 0 {
			S.Add(S, t.Mul(w[j], t.SetFloat64(x)))
		}
	}
	M := new(big.Float).SetPrec(refPrec).Quo(S, W)
	V := new(big.Float).SetPrec(refPrec)
	d := new(big.Float).SetPrec(refPrec)
	for j := range w {
		d.SetFloat64(vals[last-int64(j)])
		d.Sub(d, M)
		d.Mul(d, d)
		V.Add(V, d.Mul(d, w[j]))
	}
	V.Quo(V, W)
	weight, _ = W.Float64()
	mean, _ = M.Float64()
	variance, _ = V.Float64()
	return weight, mean, variance
}

func observeAll(d Decay, pts []point) Stats {
	var s Stats
	for _, p := range pts {
		s.Observe(d, p.w, p.x)
	}
	return s
}

var sevenDaysOneMinute = NewDecay(7*24*time.Hour, time.Minute).Beta

type seriesCase struct {
	name string
	beta float64
	pts  []point
	view int64 // compare Stats.At(view) with the reference through window view-1
}

func seriesCases() []seriesCase {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := func(from, n int64, lambda float64, every int64) []point {
		var pts []point
		for w := from; w < from+n; w += every {
			x := math.Floor(lambda * (0.5 + rng.Float64()))
			pts = append(pts, point{w, x})
		}
		return pts
	}
	cat := func(parts ...[]point) []point {
		var out []point
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	constant := func(n int64, x float64) []point {
		pts := make([]point, n)
		for i := range pts {
			pts[i] = point{int64(i), x}
		}
		return pts
	}
	bursts := cat(counts(0, 2000, 3, 1), []point{{2000, 5000}, {2001, 4000}}, counts(2002, 2000, 3, 1), []point{{4002, 1e5}})
	var huge, tiny, mixed []point
	for i := int64(0); i < 3000; i++ {
		huge = append(huge, point{i, 1e150 * (1 + rng.Float64())})
		tiny = append(tiny, point{i, 1e-150 * (1 + rng.Float64())})
		mixed = append(mixed, point{i * 3, math.Pow(10, 15*rng.Float64())})
	}
	var cases []seriesCase
	for _, beta := range []struct {
		name string
		b    float64
	}{{"beta=1", 1}, {"beta=7d/1m", sevenDaysOneMinute}, {"beta=1-1e-12", 1 - 1e-12}, {"beta=0.99", 0.99}, {"beta=0.5", 0.5}} {
		add := func(name string, pts []point, view int64) {
			cases = append(cases, seriesCase{beta.name + "/" + name, beta.b, pts, view})
		}
		add("single", []point{{7, 42}}, 8)
		add("single+idle", []point{{7, 42}}, 5000)
		add("constant", constant(3000, 5), 3000)
		add("constant+idle", constant(300, 5), 20_000)
		add("counts", counts(0, 5000, 20, 1), 5000)
		add("sparse", counts(100, 60_000, 20, 997), 60_100)
		add("idle gaps", cat(counts(0, 50, 10, 1), counts(5_000, 50, 10, 1), counts(40_000, 10, 1000, 1), counts(90_000, 3, 5, 1)), 100_000)
		add("bursts", bursts, 4003)
		add("huge", huge, 3000)
		add("tiny", tiny, 3000)
		add("mixed magnitudes", mixed, 9000)
		add("zeros observed", constant(500, 0), 1000)
	}
	return cases
}

// relErr is |got-want| relative to scale, the size of the quantity's natural
// unit (so that a quantity that is exactly zero is compared sensibly).
func relErr(got, want, scale float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / scale
}

// TestStatsMatchesTwoPassReference proves that the O(1) incremental update,
// including the closed-form folding of idle windows, computes the same
// weighted mean and variance as explicit weights over the dense series, within
// a relative error of 1e-11 (measured worst: 3.4e-14).
func TestStatsMatchesTwoPassReference(t *testing.T) {
	const tol = 1e-11
	worst := 0.0
	for _, tc := range seriesCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := Decay{Beta: tc.beta}
			s := observeAll(d, tc.pts).At(d, tc.view)
			last := max(tc.view-1, tc.pts[len(tc.pts)-1].w)
			W, M, V := reference(tc.beta, tc.pts, last)
			if s.Last != last {
				t.Fatalf("Last = %d, want %d", s.Last, last)
			}
			if want := last - tc.pts[0].w + 1; int64(s.Windows) != want {
				t.Errorf("Windows = %d, want %d", s.Windows, want)
			}
			// Scales: the RMS of the values bounds what rounding can do to the
			// mean, and mean²+variance what it can do to the variance.
			rms := math.Sqrt(M*M + V)
			if rms == 0 {
				rms = 1
			}
			errs := []struct {
				what      string
				got, want float64
				scale     float64
			}{
				{"weight", s.Weight, W, W},
				{"mean", s.Mean, M, rms},
				{"variance", s.Variance(), V, rms * rms},
			}
			for _, e := range errs {
				r := relErr(e.got, e.want, e.scale)
				worst = max(worst, r)
				if r > tol || math.IsNaN(e.got) {
					t.Errorf("%s = %.17g, reference %.17g: relative error %.3g > %g", e.what, e.got, e.want, r, tol)
				}
			}
		})
	}
	t.Logf("worst relative error %.3g", worst)
}

// TestStatsLateValueIsAddedToNewestWindow proves the documented semantics of
// Observe for a window at or before Last: exactly as if window Last's value
// had been larger.
func TestStatsLateValueIsAddedToNewestWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, beta := range []float64{1, sevenDaysOneMinute, 0.9} {
		d := Decay{Beta: beta}
		var s Stats
		var pts []point
		for w := int64(0); w < 400; w += 1 + int64(rng.IntN(30)) {
			x := float64(rng.IntN(100))
			s.Observe(d, w, x)
			pts = append(pts, point{w, x})
			if rng.IntN(3) == 0 { // a late value for an older (or the same) window
				late := float64(rng.IntN(50))
				s.Observe(d, w-int64(rng.IntN(5)), late)
				pts = append(pts, point{w, late}) // lands on the newest window
			}
		}
		last := pts[len(pts)-1].w
		W, M, V := reference(beta, pts, last)
		rms := math.Sqrt(M*M + V)
		if relErr(s.Weight, W, W) > 1e-12 || relErr(s.Mean, M, rms) > 1e-12 || relErr(s.Variance(), V, rms*rms) > 1e-12 {
			t.Errorf("beta %v: got (%v, %v, %v), reference (%v, %v, %v)", beta, s.Weight, s.Mean, s.Variance(), W, M, V)
		}
	}
}

// TestStatsAtIsPure proves At does not change the receiver, is idempotent,
// and that At(w) followed by Observe(w, x) is bit-identical to Observe(w, x).
func TestStatsAtIsPure(t *testing.T) {
	d := Decay{Beta: sevenDaysOneMinute}
	var s Stats
	for _, p := range []point{{0, 3}, {1, 4}, {2, 0}, {10, 7}} {
		s.Observe(d, p.w, p.x)
	}
	for _, w := range []int64{5, 11, 12, 100, 1_000_000} {
		before := s
		v := s.At(d, w)
		if s != before {
			t.Fatalf("At(%d) changed the receiver: %+v -> %+v", w, before, s)
		}
		if v2 := v.At(d, w); v2 != v {
			t.Errorf("At(%d) not idempotent: %+v vs %+v", w, v, v2)
		}
		direct := s
		direct.Observe(d, w, 9)
		viaAt := s.At(d, w)
		viaAt.Observe(d, w, 9)
		if direct != viaAt {
			t.Errorf("At(%d)+Observe = %+v, Observe = %+v", w, viaAt, direct)
		}
	}
	var empty Stats
	if got := empty.At(d, 100); got != (Stats{}) {
		t.Errorf("empty At = %+v", got)
	}
}

// TestZeroWeightsAccuracy checks the closed-form weights of k idle windows
// against 256-bit arithmetic, for Beta very close to 1 and huge k, where the
// naive (1-Beta^k)/(1-Beta) loses half its digits.
func TestZeroWeightsAccuracy(t *testing.T) {
	for _, beta := range []float64{sevenDaysOneMinute, NewDecay(30*24*time.Hour, time.Second).Beta, 1 - 1e-15, 0.5, 1e-3} {
		for _, k := range []int64{1, 2, 3, 1000, 100_000, 1e7, 1e9, 1e12, 1e15, math.MaxInt64} {
			b, z := Decay{Beta: beta}.zeroWeights(k)
			// Beta^k by squaring, then z = (1-Beta^k)/(1-Beta), all in big floats.
			bb := new(big.Float).SetPrec(refPrec).SetFloat64(beta)
			pw := new(big.Float).SetPrec(refPrec).SetInt64(1)
			for e := uint64(k); e > 0; e >>= 1 {
				if e&1 == 1 {
					pw.Mul(pw, bb)
				}
				bb.Mul(bb, bb)
			}
			if pw.MantExp(nil) < -1100 {
				pw.SetInt64(0) // below float64; keeps 1-pw from allocating a huge mantissa
			}
			one := new(big.Float).SetPrec(refPrec).SetInt64(1)
			num := new(big.Float).SetPrec(refPrec).Sub(one, pw)
			den := new(big.Float).SetPrec(refPrec).Sub(one, new(big.Float).SetFloat64(beta))
			wantZ, _ := new(big.Float).SetPrec(refPrec).Quo(num, den).Float64()
			wantB, _ := pw.Float64()
			if r := relErr(z, wantZ, wantZ); r > 1e-14 {
				t.Errorf("beta=%v k=%d: z=%.17g want %.17g (rel %.3g)", beta, k, z, wantZ, r)
			}
			// b = exp(k·ln Beta): relative error about |k·ln Beta|·eps.
			tolB := 2e-16 * max(1, -float64(k)*math.Log1p(beta-1))
			if r := math.Abs(b - wantB); r > tolB*wantB && r > 1e-300 {
				t.Errorf("beta=%v k=%d: b=%.17g want %.17g", beta, k, b, wantB)
			}
		}
	}
}

// TestStatsHugeGap: after an idle gap far longer than the half-life the
// baseline is all zeros (mean and variance 0, weight 1/(1-Beta)); with no
// forgetting, a huge gap is counted exactly.
func TestStatsHugeGap(t *testing.T) {
	d := Decay{Beta: sevenDaysOneMinute}
	var s Stats
	s.Observe(d, 0, 1e6)
	s.Observe(d, 1, 3)
	v := s.At(d, 1e15)
	if v.Mean != 0 || v.Variance() != 0 || relErr(v.Weight, 1/(1-d.Beta), 1/(1-d.Beta)) > 1e-12 || v.Windows != math.MaxUint32 {
		t.Errorf("after a huge gap: %+v", v)
	}
	v.Observe(d, 1e15, 5)
	if v.Mean <= 0 || v.Last != 1e15 || math.IsNaN(v.M2) {
		t.Errorf("observe after huge gap: %+v", v)
	}

	one := Decay{Beta: 1}
	var u Stats
	u.Observe(one, 0, 10)
	u = u.At(one, 1e12)
	if u.Weight != 1e12 || relErr(u.Mean, 10/1e12, 10/1e12) > 1e-15 {
		t.Errorf("beta=1 huge gap: %+v", u)
	}
}

// TestDecayClamp: out-of-range Beta values cannot produce NaN statistics.
func TestDecayClamp(t *testing.T) {
	for _, beta := range []float64{math.NaN(), -1, 2, math.Inf(1), 0} {
		d := Decay{Beta: beta}
		var s Stats
		s.Observe(d, 0, 1)
		s.Observe(d, 5, 2)
		s = s.At(d, 9)
		if math.IsNaN(s.Mean) || math.IsNaN(s.M2) || math.IsNaN(s.Weight) {
			t.Errorf("beta %v: %+v", beta, s)
		}
	}
}

func TestNewDecayHalfLife(t *testing.T) {
	d := NewDecay(7*24*time.Hour, time.Minute)
	got := math.Pow(d.Beta, 7*24*60)
	if math.Abs(got-0.5) > 1e-12 {
		t.Errorf("Beta^(half-life windows) = %v, want 0.5", got)
	}
	if NewDecay(0, time.Minute).Beta != 1 || NewDecay(time.Hour, 0).Beta != 1 {
		t.Error("no half-life must mean no forgetting")
	}
}

func TestMetricNames(t *testing.T) {
	for m := Metric(0); m < NumMetrics; m++ {
		got, ok := ParseMetric(m.String())
		if !ok || got != m {
			t.Errorf("ParseMetric(%q) = %v, %v", m.String(), got, ok)
		}
	}
	if _, ok := ParseMetric("nope"); ok || Metric(99).String() != "unknown" {
		t.Error("unknown metric accepted")
	}
}
