// Package bench measures trailwatch: decoder speed, baseline updates, replay
// throughput, memory per principal and detection quality, and writes the
// results as a report (report.md, report.json and SVG charts) with
// `go run ./bench/cmd/report`.
//
// It exists so that the README's performance claims are reproducible facts,
// re-measured by one command on the reader's own machine. Absolute numbers
// depend on that machine (and on whatever else runs on it), so every report
// names the CPU, core count and Go release, and the headline figures are
// ratios taken in the same run: end-to-end replay against the decoder
// ceiling on the same files, the sharded store against a mutex map.
//
// The micro-benchmarks that live beside the code they measure (ingest
// decoders, baseline store, detect engine) are run as they are, with
// `go test -bench`, and their output parsed (RunGoBench), rather than
// re-implemented here. End-to-end numbers come from this package: a seeded
// workload from bench/workload written as gzip files in AWS's S3 layout,
// replayed through internal/replay exactly as `trailwatch replay` does.
//
// Detection quality is scored against the workload's ground truth after a
// warm-up of several days, because a detector that has not seen a day's
// rhythm mistakes every morning for an incident; false alerts are counted
// per 1,000 principal-days of the scored period only.
package bench
