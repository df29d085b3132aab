// Package serve assembles the always-on service: Kafka input topics are
// fetched, decoded and scored continuously, alerts go to the alerts topic and
// unusable input to the dead-letter topic, and an HTTP endpoint serves
// /metrics, /healthz and /readyz.
//
// # Durability
//
// One goroutine, the sequencer, decodes each fetched message and hands its
// events to the detection engine in fetch order (per partition, offset
// order). Alerts are emitted as soon as they are detected
// (detect.WithImmediateEmit) into an ordered outbox (ingest/kafka.Producer)
// that numbers every record. Every kafka.commit_interval the sequencer
// checkpoints:
//
//  1. engine.Sync: every event processed so far has been applied and every
//     alert it caused is in the outbox; the workers are idle.
//  2. The baseline store is encoded into memory; it is consistent with
//     exactly the messages processed so far, whose next offsets are taken.
//  3. The committer waits until the outbox has been acknowledged up to the
//     checkpoint's number (RequiredAcks all), then writes the snapshot file
//     atomically, then commits the offsets.
//
// A crash at any point leaves committed offsets at or behind the snapshot
// and every alert of a committed message acknowledged: restart re-delivers,
// never loses, and alert ids are deterministic so downstream de-duplicates.
// A message re-processed on top of a newer snapshot counts twice in its
// window's baseline; that is the at-least-once price.
//
// Not checkpointed: the engine's peer-group statistics, per-window
// explanations and cooldowns, which live in detect, not in the store. After
// a restart peer groups re-form and a cooldown may let a repeat through.
//
// # Rebalances
//
// kafka-go's group Reader moves partitions between instances; messages carry
// the generation they were fetched in, and offsets of an older generation are
// never committed (the new owner re-reads them). State is not moved: input
// keyed by principal keeps each principal on one instance.
//
// # Shutdown
//
// On cancellation: stop fetching, process what was fetched, Sync, a last
// checkpoint (acks, snapshot, commit), then close, within
// kafka.shutdown_timeout.
package serve
