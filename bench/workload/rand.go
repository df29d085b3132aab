package workload

import (
	"math"
	"math/bits"
)

// The generator uses its own small random number generator rather than
// math/rand so that the output for a seed is fixed by this package alone and
// cannot change with a Go release, and so that any event can be rendered from
// a 64-bit seed of its own (rendering does not depend on what came before).

// mix is the splitmix64 finaliser: a bijective, well-mixing hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash2 and hash3 derive a stable value from a few integers (seed, salt,
// index ...). Different argument tuples give unrelated outputs.
func hash2(a, b uint64) uint64    { return mix(mix(a+0x9e3779b97f4a7c15) ^ b) }
func hash3(a, b, c uint64) uint64 { return mix(hash2(a, b) ^ mix(c+0x632be59bd9b4e019)) }

// rng is splitmix64: tiny state, fast, good enough for synthetic workloads.
type rng struct{ s uint64 }

func newRNG(seed uint64) rng { return rng{s: seed} }

func (r *rng) u64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// intn returns a uniform value in [0, n); n must be > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) * (1.0 / (1 << 53)) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// between returns a uniform integer in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// norm returns a standard normal deviate (Box-Muller, one of the pair).
func (r *rng) norm() float64 {
	u := r.float()
	for u == 0 {
		u = r.float()
	}
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*r.float())
}

// logNormal returns exp(mu + sigma*N(0,1)) clamped to [lo, hi].
func (r *rng) logNormal(median, sigma, lo, hi float64) float64 {
	v := median * math.Exp(sigma*r.norm())
	return math.Min(math.Max(v, lo), hi)
}

// poisson draws from a Poisson distribution with mean lambda: Knuth's
// multiplication method for small means, a rounded normal approximation
// for large ones (the per-minute totals of a large organisation), where the
// difference is immaterial for a workload.
func (r *rng) poisson(lambda float64) int {
	switch {
	case !(lambda > 0):
		return 0
	case lambda < 30:
		l := math.Exp(-lambda)
		k, p := 0, r.float()
		for p > l {
			k++
			p *= r.float()
		}
		return k
	default:
		v := math.Round(lambda + math.Sqrt(lambda)*r.norm())
		if v < 0 {
			return 0
		}
		return int(v)
	}
}

// alias is Vose's alias table: O(1) sampling of an index with probability
// proportional to its weight. Entries are 8 bytes so a million-principal
// table stays small.
type alias struct {
	prob  []float32
	alias []uint32
	total float64 // sum of the weights it was built from
}

func newAlias(w []float64) alias {
	n := len(w)
	a := alias{prob: make([]float32, n), alias: make([]uint32, n)}
	if n == 0 {
		return a
	}
	for _, x := range w {
		a.total += x
	}
	scaled := make([]float64, n)
	small := make([]uint32, 0, n)
	large := make([]uint32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / a.total
		if scaled[i] < 1 {
			small = append(small, uint32(i))
		} else {
			large = append(large, uint32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s := small[len(small)-1]
		small = small[:len(small)-1]
		l := large[len(large)-1]
		a.prob[s] = float32(scaled[s])
		a.alias[s] = l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		a.prob[i], a.alias[i] = 1, i
	}
	for _, i := range small { // numerical leftovers
		a.prob[i], a.alias[i] = 1, i
	}
	return a
}

func (a *alias) len() int { return len(a.prob) }

func (a *alias) sample(r *rng) int {
	x := r.u64()
	hi, lo := bits.Mul64(x, uint64(len(a.prob)))
	// lo is uniform-ish in the low bits; use its top 24 bits for the coin.
	if float32(lo>>40)*(1.0/(1<<24)) < a.prob[hi] {
		return int(hi)
	}
	return int(a.alias[hi])
}

// zipfWeights assigns Zipf weights 1/(rank+1)^s to n items in a seeded random
// rank order, normalised to mean 1, so that activity is heavy-tailed but the
// busiest principals are not all of one kind.
func zipfWeights(n int, s float64, r *rng) []float64 {
	w := make([]float64, n)
	perm := make([]uint32, n)
	for i := range perm {
		perm[i] = uint32(i)
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	sum := 0.0
	for rank, i := range perm {
		w[i] = math.Pow(float64(rank+1), -s)
		sum += w[i]
	}
	for i := range w {
		w[i] *= float64(n) / sum
	}
	return w
}
