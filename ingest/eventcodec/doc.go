// Package eventcodec is the wire encoding of [ingest.Event] on the internal
// trailwatch.events topic, which carries normalized events from the ingest
// stage (any input partitioning) to the detect stage (partitioned by
// principal).
//
// # Why binary
//
// Every event crosses Kafka once more than it would in a single-stage
// deployment, so the encoding is paid for twice per event: in broker bytes and
// in CPU on both stages. A typical CloudTrail event takes well under half of
// its JSON size in this format (TestSizeVsJSON and BenchmarkAppend report
// both), encodes without allocating and decodes with one allocation per
// non-empty string, or fewer with [DecodeInterned].
// JSON would also lose information we need exactly: netip.Addr zones, the
// full time range, and field identity is implicit in the fixed order here.
//
// # Format, version 1
//
// All integers are varints (encoding/binary); signed ones are zigzag-encoded.
//
//	version      byte    = 1
//	time         byte kind: 0 zero time.Time
//	                        1 followed by varint UnixNano
//	                        2 followed by varint Unix seconds, uvarint nanoseconds (< 1e9),
//	                          for instants UnixNano cannot represent
//	source       byte
//	ptype        byte    Principal.Type
//	strings      Principal.Key, .Account, .SubKey, .AccessKeyID, Action, ErrorCode, Region
//	sourceIP     addr
//	eventID      string
//	egress       uvarint EgressBytes
//	peerAddr     addr
//	peerPort     uvarint (<= 65535)
//	protocol     byte
//	pos          string Name, varint Partition (int32), varint Offset, Line, Index
//
// A string is a uvarint byte length followed by the bytes (not validated as
// UTF-8: what was encoded is what is decoded). An addr is a tag byte 0 (the
// zero Addr), 4 (IPv4, 4 bytes), 16 (IPv6, 16 bytes; IPv4-mapped addresses
// stay IPv6) or 17 (IPv6 with a zone: 16 bytes, then the zone as a string).
// The record must end exactly after the last field; trailing bytes are
// corruption, not an extension point.
//
// Source and PrincipalType bytes are passed through unvalidated, so an
// encoder that knows a newer enum value does not need a new version; readers
// already render unknown values as "unknown".
//
// Decoded times are in UTC without a monotonic reading: the encoding keeps
// the instant, not the location.
//
// # Versioning
//
// The first byte is the format version. Any change to the layout (a new
// field, a changed width, a reordered field) gets a new version number and
// the old decoder is kept, so a reader decodes every version written by an
// older or equal release. A reader that meets a version it does not know
// returns [ErrVersion]; the detect stage treats that as "upgrade me", not as a
// poisoned record, so during a rolling upgrade upgrade the detect stage before
// the ingest stage starts writing a new version. Malformed or truncated input
// returns an error wrapping [ErrCorrupt]. Decoding never panics and never
// allocates more than len(b) bytes of strings.
//
// The golden test (testdata/event_v1.golden) pins the version 1 bytes; if it
// fails, the wire format changed and needs a new version, not -update.
package eventcodec
