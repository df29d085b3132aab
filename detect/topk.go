package detect

import (
	"cmp"
	"net/netip"
	"slices"
)

// topKey identifies what a sketch counts: an action (a), an action and error
// code (a, b), or a flow destination (addr, port). Keeping the parts instead
// of a rendered string means counting never allocates.
type topKey struct {
	a, b string
	addr netip.Addr
	port uint16
}

func (k topKey) String() string {
	if k.addr.IsValid() {
		return netip.AddrPortFrom(k.addr, k.port).String()
	}
	if k.b != "" {
		return k.a + " " + k.b
	}
	return k.a
}

type topCounter struct {
	key   topKey
	count float64 // upper bound of the key's true value
}

// sketch is a Space-Saving heavy-hitters summary with a fixed capacity: any
// key whose true value exceeds total/capacity is in it, and each reported
// value overestimates the true one by at most the smallest counter. With the
// handful of distinct actions a principal uses in a minute it is exact.
type sketch struct {
	c []topCounter
}

func (s *sketch) reset() { s.c = s.c[:0] }

func (s *sketch) add(k topKey, v float64, capacity int) {
	for i := range s.c {
		if s.c[i].key == k {
			s.c[i].count += v
			return
		}
	}
	if len(s.c) < capacity {
		s.c = append(s.c, topCounter{key: k, count: v})
		return
	}
	minI := 0
	for i := 1; i < len(s.c); i++ {
		if s.c[i].count < s.c[minI].count {
			minI = i
		}
	}
	s.c[minI] = topCounter{key: k, count: s.c[minI].count + v}
}

// top returns the n largest entries with their share of total, largest first,
// ties broken by key so that the order is deterministic.
func (s *sketch) top(n int, total float64) []TopItem {
	items := make([]TopItem, 0, len(s.c))
	for _, c := range s.c {
		share := 0.0
		if total > 0 {
			share = min(c.count/total, 1)
		}
		items = append(items, TopItem{Key: c.key.String(), Value: c.count, Share: share})
	}
	slices.SortFunc(items, func(x, y TopItem) int {
		if c := cmp.Compare(y.Value, x.Value); c != 0 {
			return c
		}
		return cmp.Compare(x.Key, y.Key)
	})
	if len(items) > n {
		items = items[:n]
	}
	return items
}
