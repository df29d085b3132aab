package detect

import (
	"cmp"
	"math"
	"slices"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// groupKey is a peer group: the principals of one type in one account.
type groupKey struct {
	account string
	typ     uint8
}

func (g groupKey) String() string {
	return g.account + "/" + ingest.PrincipalType(g.typ).String()
}

// moments is an unweighted batch of values: count, mean, sum of squared
// deviations, one per metric (Welford).
type moments struct {
	n    float64
	mean baseline.Values
	m2   baseline.Values
}

func (a *moments) add(x *baseline.Values) {
	a.n++
	for m := range x {
		d := x[m] - a.mean[m]
		a.mean[m] += d / a.n
		a.m2[m] += d * (x[m] - a.mean[m])
	}
}

// merge folds b into a (Chan et al.).
func (a *moments) merge(b *moments) {
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		*a = *b
		return
	}
	n := a.n + b.n
	for m := range a.mean {
		d := b.mean[m] - a.mean[m]
		a.mean[m] += d * b.n / n
		a.m2[m] += b.m2[m] + d*d*a.n*b.n/n
	}
	a.n = n
}

// groupWindow is one peer group's values for one closed window.
type groupWindow struct {
	g groupKey
	w int64
}

// shardContrib collects what one logical shard's close contributed to the
// peer groups, in the (deterministic) order the store visited principals.
// It is written by the worker that owns the shard and read by the merger
// at the barrier.
type shardContrib struct {
	idx   map[groupWindow]int
	order []groupWindow
	agg   []moments
}

func (c *shardContrib) add(g groupWindow, x *baseline.Values) {
	if c.idx == nil {
		c.idx = make(map[groupWindow]int)
	}
	i, ok := c.idx[g]
	if !ok {
		i = len(c.order)
		c.idx[g] = i
		c.order = append(c.order, g)
		c.agg = append(c.agg, moments{})
	}
	c.agg[i].add(x)
}

func (c *shardContrib) reset() {
	clear(c.idx)
	clear(c.order) // drop account strings
	c.order = c.order[:0]
	c.agg = c.agg[:0]
}

// peerStats is an exponentially weighted mean and variance of the per-window
// values of a group's active members. Each member-window weighs 1 when it is
// folded and decays by beta per window after.
type peerStats struct {
	weight  float64
	mean    baseline.Values
	m2      baseline.Values
	windows int   // windows with at least one active member
	samples int64 // member-windows folded
	last    int64 // newest window folded
}

func (p *peerStats) fold(beta float64, w int64, b *moments) {
	if p.windows > 0 && w > p.last && beta < 1 {
		f := math.Pow(beta, float64(w-p.last))
		p.weight *= f
		for m := range p.m2 {
			p.m2[m] *= f
		}
	}
	n := p.weight + b.n
	if n <= 0 {
		return
	}
	for m := range p.mean {
		d := b.mean[m] - p.mean[m]
		p.mean[m] += d * b.n / n
		p.m2[m] += b.m2[m] + d*d*p.weight*b.n/n
	}
	p.weight = n
	p.windows++
	p.samples += int64(b.n)
	if w > p.last || p.windows == 1 {
		p.last = w
	}
}

func (p *peerStats) stddev(m baseline.Metric) float64 {
	if p.weight <= 0 || p.m2[m] <= 0 {
		return 0
	}
	return math.Sqrt(p.m2[m] / p.weight)
}

// mergePeers folds the contributions of every shard, in logical shard order,
// into the peer statistics. Float addition is not associative, so the order
// is fixed by shard index and, within a shard, by the store's visiting order:
// neither depends on the number of workers.
func mergePeers(peers map[groupKey]*peerStats, contrib []shardContrib, beta float64) {
	var all map[groupWindow]*moments
	var order []groupWindow
	for s := range contrib {
		c := &contrib[s]
		for i, gw := range c.order {
			if all == nil {
				all = make(map[groupWindow]*moments)
			}
			a, ok := all[gw]
			if !ok {
				a = &moments{}
				all[gw] = a
				order = append(order, gw)
			}
			a.merge(&c.agg[i])
		}
		c.reset()
	}
	// Fold each group's windows oldest first; groups are independent.
	slices.SortFunc(order, func(x, y groupWindow) int {
		if c := cmp.Compare(x.g.account, y.g.account); c != 0 {
			return c
		}
		if c := cmp.Compare(x.g.typ, y.g.typ); c != 0 {
			return c
		}
		return cmp.Compare(x.w, y.w)
	})
	for _, gw := range order {
		p := peers[gw.g]
		if p == nil {
			p = &peerStats{}
			peers[gw.g] = p
		}
		p.fold(beta, gw.w, all[gw])
	}
}
