// Package baseline keeps per-principal rolling statistics: for every AWS
// principal and metric (api_calls, api_errors, egress_bytes), what a normal
// window looks like, so that the detection stage can say how unusual the
// current one is. It knows nothing about Kafka, AWS or alerts.
//
// # The model
//
// Time is cut into event-time tumbling windows, numbered by integers. A
// principal's per-window values form a series; Stats holds its exponentially
// weighted mean and variance, where a window k windows old weighs Beta^k and
// Beta is chosen so that weights halve every Options.HalfLife (default 7
// days). The update is West's weighted form of Welford's algorithm: O(1) per
// window and numerically stable, because it never subtracts large sums
// (sum-of-squares minus square-of-sums loses every digit on byte counts). The
// tests hold it to a 256-bit two-pass reference within 1e-11 relative error.
//
// # Why idle windows are folded in closed form
//
// A window in which a principal did nothing is a zero, and must count as one:
// a role that makes three calls a week is not "normal" at three calls per
// minute. But most of a million principals are idle in most windows, and
// touching each of them every minute would cost more than all the real work.
// So a principal's zeros are folded only when it next appears (or when a view
// is taken, Stats.At), all at once: k zeros weigh Beta^0..Beta^(k-1), a group
// of weight (1-Beta^k)/(1-Beta) with mean 0 and no spread, merged with the
// decayed older observations by Chan's parallel formula. That is exact, costs
// one exp and one expm1 whatever k is, and is computed so that it keeps full
// precision for Beta within 1e-5 of 1 (1-minute windows) and for k in the
// billions.
//
// # Why shards are fixed
//
// The Store splits principals over a fixed number of logical shards (a power
// of two, default 256) by xxhash64 of the key, with no per-process seed. The
// shard decides which detection worker owns a principal, in which order
// windows are closed and principals evicted, and where a principal sits in a
// snapshot; if it changed between processes or runs, a replay would not be
// byte-identical and a snapshot would not restore. Each shard has its own
// lock, map and counters, padded onto their own cache lines, so goroutines
// working on different shards never write the same line; the per-shard
// counters are summed only when read (Store.Stats).
//
// # Concurrency claim
//
// The store is safe for concurrent use, and the detection stage makes its
// locks uncontended by routing each shard to one goroutine. It is not
// lock-free: every update takes its shard's mutex (only Store.Stats reads
// without locks). BenchmarkStoreAdd compares it with one mutex around one map
// doing the same work per update, on a Zipf-distributed key stream. On a
// 2-core machine shared with other jobs, with 1M principals updated the way
// the detection stage does it (one goroutine per shard group, both cores),
// the store took about half the time per update of the single-mutex map
// (~425 vs ~810 ns median); with one core the single map was faster (the
// routing hash costs ~50-70 ns per update), and with every goroutine taking
// any key the two were within the machine's noise. Sharding buys parallelism
// across cores and a determinism-preserving layout, not single-core speed.
//
// # Memory and durability
//
// A principal costs about 390 bytes of heap with all three metrics and an
// open window (BenchmarkMemoryPerPrincipal, 69-byte keys), because the three
// metrics share their window bookkeeping and one or two open windows are
// stored inline. Options.MaxPrincipals caps the count (per shard, with
// Redis-style sampled least-recently-active eviction that never evicts a
// principal with an open window) and Options.IdleTTL forgets principals idle
// for longer in event time, swept a slice per window close. Evictions are
// deterministic for a deterministic input.
//
// WriteSnapshot saves the store, open windows included, in a versioned binary
// format with CRC-32C checksums, atomically (temporary file, fsync, rename,
// fsync of the directory), copying one shard at a time under its lock.
// Restore refuses a snapshot that is damaged, of another format version, or
// taken with another window length, half-life or shard count, with errors
// that match ErrSnapshotCorrupt, ErrSnapshotVersion and
// ErrSnapshotIncompatible, and a missing file matches fs.ErrNotExist: a
// baseline never silently restarts empty. For changelogs, AppendEntry and
// PutEntry write and read one principal at a time, and SetChangeHook reports
// the principals that change without an Add (entry.go explains the order a
// restore must rebuild).
package baseline
