// Package kafka is trailwatch's Kafka source and sink, on segmentio/kafka-go.
//
// The live service needs three things from Kafka and this package gives each
// one a small type:
//
//   - Consumer: one consumer-group Reader per input topic, fetched (never
//     auto-committed) into a single channel, with per-partition lag metrics.
//     Offsets are committed only when the caller says the effects of the
//     messages are durable (Consumer.Commit), so a crash re-delivers and never
//     loses.
//   - Producer: an ordered outbox for alerts and dead letters. Every record
//     gets a sequence number when enqueued; Acked reports the highest number
//     up to which the broker acknowledged every record (RequiredAcks all). A
//     failed write is retried with backoff, forever, in order, because a
//     dropped alert is the one thing the service must never do; a full outbox
//     blocks the caller (backpressure) instead of dropping.
//   - Security: TLS and SASL (PLAIN, SCRAM-SHA-256/512) for both, validated
//     once, with secrets from the environment and never in a log line.
//
// ReadRange reads a time range of a topic without a consumer group, for
// `trailwatch replay kafka://...`.
package kafka
