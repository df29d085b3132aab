// Package source reads audit logs from where they rest, local files, stdin
// and S3, and delivers decoded records in a deterministic order however many
// files are decoded at once.
//
// Replay must give the same alerts as a live run and the same bytes on every
// run, so ordering is part of the contract: inputs are enumerated in a stable
// order (paths and keys sorted), decoded in parallel by a bounded pool, and
// handed to the consumer strictly in enumeration order, chunk by chunk, with
// back-pressure so a slow consumer bounds the memory of fast decoders.
package source
