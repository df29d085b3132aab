package ingest

// Reason is why a record was rejected or skipped. The set is fixed in advance
// so that reasons can be Prometheus label values and summary keys; a decoder
// never invents a reason from input, it puts specifics in Reject.Detail.
type Reason string

// Rejections: records that were meant to be events but could not be decoded.
const (
	ReasonMalformedJSON      Reason = "malformed_json"        // not valid JSON, or the wrong JSON type
	ReasonNoTime             Reason = "no_event_time"         // no eventTime (or flow start), never replaced by "now"
	ReasonBadTime            Reason = "bad_event_time"        // eventTime present but not RFC 3339
	ReasonNoPrincipal        Reason = "no_principal"          // no usable identity to attribute the record to
	ReasonNoAction           Reason = "no_action"             // CloudTrail record without eventSource/eventName
	ReasonDigestFile         Reason = "cloudtrail_digest"     // a CloudTrail digest file, not a log file
	ReasonUnknownShape       Reason = "unknown_shape"         // JSON that is none of the CloudTrail shapes
	ReasonBadFlowLine        Reason = "bad_flow_line"         // wrong field count, unparsable number or address
	ReasonNoFlowFormat       Reason = "no_flow_format"        // a flow line with no header and no configured format
	ReasonBadFlowFormat      Reason = "bad_flow_format"       // a header or format string with unknown fields
	ReasonCorruptCompression Reason = "corrupt_compression"   // truncated or corrupt gzip
	ReasonBadEncoding        Reason = "bad_encoding"          // bad base64 or similar transport encoding
	ReasonRecordTooLarge     Reason = "record_too_large"      // a single record beyond the configured limit
	ReasonReadError          Reason = "read_error"            // I/O failure reading a file or object
	ReasonUnknownFormat      Reason = "unknown_format"        // neither CloudTrail nor a VPC flow log
	ReasonLate               Reason = "late_event"            // older than the watermark allows (detection stage)
	ReasonUnsupportedVersion Reason = "unsupported_version"   // a flow-log version or record version not understood
	ReasonTruncatedStream    Reason = "truncated_json_stream" // a Records array cut off before its end
	ReasonBadInternalEvent   Reason = "bad_internal_event"    // an events-topic record (stage 1 to 2) that does not decode
)

// Skips: records that are deliberately not events. Counted, not dead-lettered.
const (
	SkipNoData         Reason = "flow_nodata"        // log-status NODATA
	SkipSkipData       Reason = "flow_skipdata"      // log-status SKIPDATA
	SkipControlMessage Reason = "cwl_control"        // CloudWatch Logs CONTROL_MESSAGE
	SkipHeader         Reason = "flow_header"        // a flow-log header line
	SkipBlank          Reason = "blank"              // an empty line
	SkipExcludedPeer   Reason = "flow_excluded_peer" // destination in an excluded AWS service
)

// Reasons lists every rejection reason, for pre-creating metric series.
var Reasons = []Reason{
	ReasonMalformedJSON, ReasonNoTime, ReasonBadTime, ReasonNoPrincipal, ReasonNoAction,
	ReasonDigestFile, ReasonUnknownShape, ReasonBadFlowLine, ReasonNoFlowFormat, ReasonBadFlowFormat,
	ReasonCorruptCompression, ReasonBadEncoding, ReasonRecordTooLarge, ReasonReadError,
	ReasonUnknownFormat, ReasonLate, ReasonUnsupportedVersion, ReasonTruncatedStream,
	ReasonBadInternalEvent,
}

// SkipReasons lists every skip reason.
var SkipReasons = []Reason{
	SkipNoData, SkipSkipData, SkipControlMessage, SkipHeader, SkipBlank, SkipExcludedPeer,
}
