// Package detect turns a stream of ingest.Events into explained 3-sigma alerts.
//
// # Why it is shaped this way
//
// A SOC listens to a detector only while it is both fast and quiet. Fast: an
// attacker who exfiltrates in ninety seconds must be caught in the minute it
// happens, so the engine scores every principal after every event against its
// baseline as the current window opened ("early firing") instead of waiting
// for the window to close. Quiet: a 3-sigma test on small counts fires
// constantly unless the noise is bounded from below, so the effective sigma has
// a Poisson floor (sqrt(mean)) for counts and a configured minimum per metric,
// an alert also needs a minimum absolute excess, a principal fires at most once
// per metric and window, repeats within a cooldown are merged, and known-noisy
// principals, accounts or metrics can be suppressed by configuration.
//
// # Time
//
// Windows are event-time tumbling windows (Config.Window). The watermark is the
// largest event time seen, in input order, minus Config.AllowedLateness; when
// it passes a window's end the window closes and is folded into the baseline.
// Events for a closed window are late: they are counted and handed to an
// optional callback, never merged, because a baseline that silently changes
// after the fact cannot be replayed.
//
// # Concurrency and determinism
//
// Process is called by one goroutine, the sequencer. It routes each event by
// the baseline store's shard of the principal key to one of Config.Parallelism
// workers (shard s goes to worker s % P), in batches, so every principal is
// updated by exactly one goroutine and in input order. When the watermark
// closes windows, the sequencer puts an in-band close marker into every
// worker's stream. The marker is a barrier: each worker closes its shards,
// the last worker to arrive merges the peer-group updates in logical shard
// order (an order that does not depend on P), sorts the alerts buffered since
// the previous marker by (detected_at, principal, metric, window) and emits
// them, and only then do the workers go on. Workers read peer statistics only
// between barriers, so they all see the state as of the last close. The
// result is byte-identical output for the same input and config, whatever P.
//
// # Cold start
//
// A principal with fewer than Config.MinHistory windows of history is scored
// against its peer group (same account and principal type): an exponentially
// weighted mean and variance of the per-window values of the group's active
// members, updated at every close. If the peer group is itself too young the
// engine stays silent rather than guess.
//
// # State export
//
// Scaled out like Kafka Streams, each partition of principals has its own
// engine, whose state lives in a compacted changelog keyed by principal: a
// new owner of the partition restores it record by record and carries on as
// if nothing had happened. Changes writes what changed since the last call
// (dirty keys are collected per worker as events, window closes, the
// cooldown sweep and the store's evictions touch them, so a call costs only
// what changed), Export writes everything, RestoreState reads either, and
// Observe replays events that restored state already reflects without
// applying them twice. A principal's record holds everything that shapes
// future output: its baseline entry with its place in the store's eviction
// and close order, its cooldowns, and each open window's alerted flags,
// sketches and evidence; key "" holds event time, the closed and routed
// windows, the peer-group statistics and the store's RNG and sweep positions.
// The encoding is versioned binary, deterministic, and independent of
// Config.Parallelism; TestStateSplitRun holds a run split anywhere and
// restored to the uninterrupted run's alerts and final state, byte for byte.
package detect
