// Package cloudtrail decodes AWS CloudTrail JSON into ingest.Events.
//
// CloudTrail reaches a SOC in many shapes: log files in S3
// ({"Records":[...]}, gzip, up to hundreds of MB), single records, Firehose
// output (records concatenated with or without newlines), EventBridge
// envelopes, CloudWatch Logs subscription payloads (gzip, often base64), and
// the output of `aws cloudtrail lookup-events`. A Decoder accepts all of them
// from one entry point, so the sources upstream need not know which they
// have, and it streams log files record by record with a small
// escape- and depth-aware scanner, so memory is bounded by the largest record,
// not the largest file.
//
// Each record is parsed with a reused fastjson parser (chosen by
// BenchmarkRecord: several times faster than encoding/json for the few fields
// needed) and resolved to one canonical principal key per identity (see
// principal.go), which is what baselines are kept under. Repeating strings are
// interned per decoder so steady-state decoding allocates little, and no
// string handed out aliases a reused buffer.
//
// Nothing is dropped silently: a record that cannot become an Event goes to
// the sink's Reject with one of the fixed ingest reasons, digest files are
// rejected as such, Insights events go to Insight (they describe an account,
// not a principal), and the decoder never invents a time.
package cloudtrail
