// Package respond delivers alerts to people and, when allowed, contains the
// principal behind them. It is the last stage of the pipeline
// (ingest -> baseline/detect -> respond) and the only one that acts on the
// outside world, so it is built around two promises:
//
//   - At-least-once delivery, never a silent drop. The Responder consumes the
//     alerts topic in its own consumer group and commits an alert's offset only
//     after every sink it is routed to accepted it, or after the alert was
//     parked on the parked topic with the reason in its headers. A crash
//     between delivery and commit re-delivers; sinks deduplicate by alert id
//     where they can (PagerDuty dedup_key, the X-Trailwatch-Alert-Id header,
//     the quarantine audit log).
//
//   - Every action reversible and audited, and the tool never a weapon
//     against its own organization. Quarantine is off by default, dry-run by
//     default when on, never touches protected principals (always including
//     trailwatch's own identity), Root or AWS services, stops acting after a
//     per-hour cap, and records the exact API calls and the previous state of
//     every change so that Release can undo it.
//
// Sinks are small: Deliver(ctx, alert) returns nil, a retryable error, or an
// error wrapped by Permanent (for example a 400 from a webhook) that must not
// be retried. Retrying, backoff, circuit breaking, parking and metrics live in
// the Responder, so every sink gets them the same way.
package respond
