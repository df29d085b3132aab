package baseline

// Eviction keeps the store within Options.MaxPrincipals and Options.IdleTTL.
// Both clocks are event time (window numbers), never the wall clock, so a
// replay evicts exactly the same principals as the original run.

// evictSamples is how many evictable principals are compared per eviction
// (Redis's maxmemory-samples default): good enough an approximation of
// least-recently-active at O(1) cost.
const evictSamples = 5

// evictTries bounds the random probes per eviction before falling back to a
// scan (reached only when nearly every principal of the shard is open).
const evictTries = 64

// sweepMin is the least number of principals the TTL sweep examines per
// CloseWindow. It examines at least 1/sweepFraction of the shard's size as of
// the start of the current pass, so a pass over the shard takes at most
// sweepFraction closes (plus what joined during the pass), whatever it removes.
const (
	sweepMin      = 64
	sweepFraction = 64
)

// next returns a pseudo-random index in [0, n) from the shard's splitmix64
// stream. The stream is seeded by shard index and saved in snapshots, so
// evictions are a deterministic function of the shard's input.
func (sh *shard) next(n int) int {
	sh.rng += 0x9e3779b97f4a7c15
	z := sh.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int((z >> 1) % uint64(n))
}

// evictOne evicts the least recently active of a few sampled principals that
// have no open window. It reports false if every principal is open.
func (s *Store) evictOne(sh *shard) bool {
	if len(sh.open) >= len(sh.all) {
		return false
	}
	var victim *entry
	found := 0
	for try := 0; try < evictTries && found < evictSamples; try++ {
		e := sh.all[sh.next(len(sh.all))]
		if e.isOpen {
			continue
		}
		found++
		if victim == nil || e.lastSeen < victim.lastSeen {
			victim = e
		}
	}
	if victim == nil {
		for _, e := range sh.all {
			if !e.isOpen && (victim == nil || e.lastSeen < victim.lastSeen) {
				victim = e
			}
		}
	}
	if victim == nil {
		return false
	}
	s.forget(sh, victim)
	sh.evCap.Add(1)
	return true
}

// sweep forgets principals idle for more than IdleTTL as of window w, looking
// at a bounded slice of the shard per call and resuming where it stopped.
func (s *Store) sweep(sh *shard, w int64) {
	if sh.cursor >= len(sh.all) || sh.passLen == 0 {
		sh.cursor, sh.passLen = 0, len(sh.all)
	}
	budget := min(len(sh.all), max(sweepMin, (sh.passLen+sweepFraction-1)/sweepFraction))
	for ; budget > 0 && len(sh.all) > 0; budget-- {
		if sh.cursor >= len(sh.all) {
			sh.cursor, sh.passLen = 0, len(sh.all)
		}
		e := sh.all[sh.cursor]
		if !e.isOpen && w-e.lastSeen > s.ttlWin {
			s.forget(sh, e) // the last entry moves to cursor: look at it next
			sh.evTTL.Add(1)
			continue
		}
		sh.cursor++
	}
}
