// Package vpcflow decodes AWS VPC Flow Log records into ingest.Events.
//
// Flow logs arrive in three shapes: S3 objects (gzip, one header line naming
// the columns, then records), CloudWatch Logs streams relayed through Kafka or
// Firehose (no header: the columns are whatever the flow log was created with,
// so the operator configures them), and CloudWatch Logs subscription payloads
// or {"message": "..."} wrappers around single records. AWS lets a flow log
// choose any subset of fields in any order, so the decoder never assumes
// positions: a Format maps columns to fields and everything is looked up
// through it.
//
// A flow record is attributed to the instance it belongs to (instance-id) or,
// when there is none, to its network interface. Egress bytes, the quantity the
// detectors baseline, come from flows leaving the principal: by the v5
// flow-direction field when the record has it, otherwise by address (an
// internal source talking to a non-internal destination).
//
// Flow logs are the highest-volume input trailwatch reads (one record per flow
// per minute per interface), so the line decoder is written to allocate
// nothing in steady state: lines are split by hand, numbers and IPv4 addresses
// are parsed by hand, and ids are interned in a bounded per-decoder table.
// That is why a Decoder is not safe for concurrent use: use one per goroutine.
package vpcflow
