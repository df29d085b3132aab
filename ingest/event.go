package ingest

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Source says which AWS log an event came from.
type Source uint8

const (
	SourceUnknown    Source = iota
	SourceCloudTrail        // an AWS API call recorded by CloudTrail
	SourceVPCFlow           // a VPC Flow Log record
)

func (s Source) String() string {
	switch s {
	case SourceCloudTrail:
		return "cloudtrail"
	case SourceVPCFlow:
		return "vpcflow"
	}
	return "unknown"
}

// PrincipalType is the kind of identity behind an event. For CloudTrail it is
// userIdentity.type; flow-log principals are instances or network interfaces.
type PrincipalType uint8

const (
	PrincipalUnknown PrincipalType = iota
	PrincipalRoot
	PrincipalIAMUser
	PrincipalAssumedRole
	PrincipalFederatedUser
	PrincipalAWSService
	PrincipalAWSAccount
	PrincipalIdentityCenterUser
	PrincipalRole
	PrincipalDirectory
	PrincipalSAMLUser
	PrincipalWebIdentityUser
	PrincipalInstance         // EC2 instance, from a flow log's instance-id
	PrincipalNetworkInterface // ENI, from a flow log's interface-id when no instance-id is known
	numPrincipalTypes
)

var principalTypeNames = [numPrincipalTypes]string{
	PrincipalUnknown:            "Unknown",
	PrincipalRoot:               "Root",
	PrincipalIAMUser:            "IAMUser",
	PrincipalAssumedRole:        "AssumedRole",
	PrincipalFederatedUser:      "FederatedUser",
	PrincipalAWSService:         "AWSService",
	PrincipalAWSAccount:         "AWSAccount",
	PrincipalIdentityCenterUser: "IdentityCenterUser",
	PrincipalRole:               "Role",
	PrincipalDirectory:          "Directory",
	PrincipalSAMLUser:           "SAMLUser",
	PrincipalWebIdentityUser:    "WebIdentityUser",
	PrincipalInstance:           "Instance",
	PrincipalNetworkInterface:   "NetworkInterface",
}

// String returns the CloudTrail spelling of the type ("IAMUser", "AssumedRole", ...).
func (t PrincipalType) String() string {
	if t < numPrincipalTypes {
		return principalTypeNames[t]
	}
	return "Unknown"
}

// ParsePrincipalType maps a CloudTrail userIdentity.type (or one of the
// flow-log type names above) to a PrincipalType; anything else is Unknown.
func ParsePrincipalType(s string) PrincipalType {
	for i, n := range principalTypeNames {
		if n == s {
			return PrincipalType(i)
		}
	}
	return PrincipalUnknown
}

// Principal identifies who acted. Key is the canonical identity that baselines
// are kept under: two events by the same identity have the same Key whatever
// session or access key they used. The other fields are detail for evidence and
// for the response stage.
type Principal struct {
	Key         string        // canonical key, e.g. a user or role ARN, an account id, an instance id
	Type        PrincipalType //
	Account     string        // the AWS account the principal belongs to
	SubKey      string        // session name, sourceIdentity, SSO user: who within Key
	AccessKeyID string        // AKIA... or ASIA...; may be empty
}

// Position says where a record came from, so an alert can point at its evidence.
// For files Name is the path (or s3://bucket/key), Offset a byte offset into the
// decompressed stream and Line a 1-based line number when the input is
// line-oriented (0 when not). For Kafka Name is the topic, Partition and Offset
// the message's. Index is the record's 0-based index within the file or message.
type Position struct {
	Name      string
	Partition int32 // -1 for files
	Offset    int64
	Line      int64
	Index     int64
}

// FilePos returns the position of the start of a file.
func FilePos(name string) Position { return Position{Name: name, Partition: -1} }

// IsKafka reports whether the position is a Kafka message.
func (p Position) IsKafka() bool { return p.Partition >= 0 }

// String renders the position compactly: "file:line", "file@offset#index" or
// "topic/partition@offset#index".
func (p Position) String() string {
	var b []byte
	b = append(b, p.Name...)
	if p.IsKafka() {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(p.Partition), 10)
		b = append(b, '@')
		b = strconv.AppendInt(b, p.Offset, 10)
		if p.Index > 0 {
			b = append(b, '#')
			b = strconv.AppendInt(b, p.Index, 10)
		}
		return string(b)
	}
	if p.Line > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, p.Line, 10)
		return string(b)
	}
	b = append(b, '@')
	b = strconv.AppendInt(b, p.Offset, 10)
	b = append(b, '#')
	b = strconv.AppendInt(b, p.Index, 10)
	return string(b)
}

// Event is one normalized record: a CloudTrail API call or a VPC flow.
//
// Decoders hand events to a Sink by pointer and reuse the struct after the call
// returns; a sink that keeps an event copies the struct (its strings are
// immutable and safe to keep).
type Event struct {
	Time      time.Time // eventTime for CloudTrail, the flow's start for flow logs
	Source    Source
	Principal Principal
	Action    string     // eventSource:eventName, e.g. "s3.amazonaws.com:GetObject"; empty for flows
	ErrorCode string     // CloudTrail errorCode; empty on success
	Region    string     // awsRegion, or the flow log's region when present
	SourceIP  netip.Addr // sourceIPAddress when it is an address, the flow's srcaddr
	EventID   string     // CloudTrail eventID; empty for flows

	// EgressBytes is data leaving the principal: S3 bytesTransferredOut for
	// API calls, bytes of an egress flow for flow logs. Zero when none.
	EgressBytes uint64

	// Flow detail (zero for CloudTrail).
	PeerAddr netip.Addr // the remote address of an egress flow (dstaddr or pkt-dstaddr)
	PeerPort uint16
	Protocol uint8 // IANA protocol number

	Pos Position
}

// Reject is a record that could not be turned into an Event.
type Reject struct {
	Reason Reason
	Detail string // human-readable specifics, e.g. the parse error
	Pos    Position
	Raw    []byte // the record as read; only valid during the Sink call
}

func (r *Reject) Error() string {
	if r.Detail == "" {
		return fmt.Sprintf("%s: %s", r.Pos, r.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", r.Pos, r.Reason, r.Detail)
}

// Sink receives what a decoder produces. Implementations must not retain the
// pointers past the call (copy the Event; copy Reject.Raw).
type Sink interface {
	// Event receives a decoded activity record.
	Event(ev *Event)
	// Insight receives a CloudTrail Insights event. These describe an account,
	// not a principal, so they are routed apart from Event and never baselined.
	Insight(ev *Event, raw []byte)
	// Reject receives a record that was not decoded, with the reason.
	Reject(r *Reject)
	// Skip counts a record that is deliberately not an event (NODATA/SKIPDATA
	// flow records, CloudWatch Logs control messages, header lines).
	Skip(reason Reason, pos Position)
}

// StreamError is what stopped a stream early (a read error, corrupt or
// truncated compression), with the position up to which it was read, so the
// failure can be reported and dead-lettered with its file and offset.
type StreamError struct {
	Pos Position
	Err error
}

func (e *StreamError) Error() string { return fmt.Sprintf("%s: %v", e.Pos, e.Err) }
func (e *StreamError) Unwrap() error { return e.Err }
