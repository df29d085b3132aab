package vpcflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors returned by ParseFormat and NewDecoder.
var (
	// ErrUnknownField says a configured format names a field AWS does not document.
	ErrUnknownField = errors.New("unknown flow-log field")
	// ErrDuplicateField says a format names the same field twice.
	ErrDuplicateField = errors.New("duplicate flow-log field")
	// ErrEmptyFormat says a format names no fields.
	ErrEmptyFormat = errors.New("empty flow-log format")
	// ErrBadOption says an Options value is invalid (e.g. an invalid prefix).
	ErrBadOption = errors.New("invalid vpcflow option")
)

// Field is a flow-log field (a column kind). FieldUnknown marks a column of a
// header line whose name this package does not know; it is read and ignored.
type Field uint8

// The fields of VPC flow logs v2-v8 and of transit-gateway flow logs, in the
// order AWS documents them.
const (
	FieldUnknown Field = iota
	// v2 (the default format, in its order)
	FieldVersion
	FieldAccountID
	FieldInterfaceID
	FieldSrcAddr
	FieldDstAddr
	FieldSrcPort
	FieldDstPort
	FieldProtocol
	FieldPackets
	FieldBytes
	FieldStart
	FieldEnd
	FieldAction
	FieldLogStatus
	// v3
	FieldVPCID
	FieldSubnetID
	FieldInstanceID
	FieldTCPFlags
	FieldType
	FieldPktSrcAddr
	FieldPktDstAddr
	// v4
	FieldRegion
	FieldAZID
	FieldSublocationType
	FieldSublocationID
	// v5
	FieldPktSrcAWSService
	FieldPktDstAWSService
	FieldFlowDirection
	FieldTrafficPath
	// v7
	FieldECSClusterARN
	FieldECSClusterName
	FieldECSContainerInstanceARN
	FieldECSContainerInstanceID
	FieldECSContainerID
	FieldECSSecondContainerID
	FieldECSServiceName
	FieldECSTaskDefinitionARN
	FieldECSTaskARN
	FieldECSTaskID
	// v8
	FieldRejectReason
	// transit gateway flow logs (version 6)
	FieldResourceType
	FieldTGWID
	FieldTGWAttachmentID
	FieldTGWSrcVPCAccountID
	FieldTGWDstVPCAccountID
	FieldTGWSrcVPCID
	FieldTGWDstVPCID
	FieldTGWSrcSubnetID
	FieldTGWDstSubnetID
	FieldTGWSrcENI
	FieldTGWDstENI
	FieldTGWSrcAZID
	FieldTGWDstAZID
	FieldTGWPairAttachmentID
	FieldPacketsLostNoRoute
	FieldPacketsLostBlackhole
	FieldPacketsLostMTUExceeded
	FieldPacketsLostTTLExpired

	// NumFields is one more than the largest Field; it sizes Fields.
	NumFields
)

type fieldKind uint8

const (
	kindString fieldKind = iota
	kindUint             // a decimal number or "-"; validated even when unused
)

type fieldInfo struct {
	name    string
	version uint8
	kind    fieldKind
	max     uint64 // largest valid value for kindUint
}

const maxU64 = ^uint64(0)

var fieldTable = [NumFields]fieldInfo{
	FieldUnknown:                 {"", 0, kindString, 0},
	FieldVersion:                 {"version", 2, kindUint, 255},
	FieldAccountID:               {"account-id", 2, kindString, 0},
	FieldInterfaceID:             {"interface-id", 2, kindString, 0},
	FieldSrcAddr:                 {"srcaddr", 2, kindString, 0},
	FieldDstAddr:                 {"dstaddr", 2, kindString, 0},
	FieldSrcPort:                 {"srcport", 2, kindUint, 65535},
	FieldDstPort:                 {"dstport", 2, kindUint, 65535},
	FieldProtocol:                {"protocol", 2, kindUint, 255},
	FieldPackets:                 {"packets", 2, kindUint, maxU64},
	FieldBytes:                   {"bytes", 2, kindUint, maxU64},
	FieldStart:                   {"start", 2, kindUint, 1<<62 - 1},
	FieldEnd:                     {"end", 2, kindUint, 1<<62 - 1},
	FieldAction:                  {"action", 2, kindString, 0},
	FieldLogStatus:               {"log-status", 2, kindString, 0},
	FieldVPCID:                   {"vpc-id", 3, kindString, 0},
	FieldSubnetID:                {"subnet-id", 3, kindString, 0},
	FieldInstanceID:              {"instance-id", 3, kindString, 0},
	FieldTCPFlags:                {"tcp-flags", 3, kindUint, 65535},
	FieldType:                    {"type", 3, kindString, 0},
	FieldPktSrcAddr:              {"pkt-srcaddr", 3, kindString, 0},
	FieldPktDstAddr:              {"pkt-dstaddr", 3, kindString, 0},
	FieldRegion:                  {"region", 4, kindString, 0},
	FieldAZID:                    {"az-id", 4, kindString, 0},
	FieldSublocationType:         {"sublocation-type", 4, kindString, 0},
	FieldSublocationID:           {"sublocation-id", 4, kindString, 0},
	FieldPktSrcAWSService:        {"pkt-src-aws-service", 5, kindString, 0},
	FieldPktDstAWSService:        {"pkt-dst-aws-service", 5, kindString, 0},
	FieldFlowDirection:           {"flow-direction", 5, kindString, 0},
	FieldTrafficPath:             {"traffic-path", 5, kindUint, 255},
	FieldECSClusterARN:           {"ecs-cluster-arn", 7, kindString, 0},
	FieldECSClusterName:          {"ecs-cluster-name", 7, kindString, 0},
	FieldECSContainerInstanceARN: {"ecs-container-instance-arn", 7, kindString, 0},
	FieldECSContainerInstanceID:  {"ecs-container-instance-id", 7, kindString, 0},
	FieldECSContainerID:          {"ecs-container-id", 7, kindString, 0},
	FieldECSSecondContainerID:    {"ecs-second-container-id", 7, kindString, 0},
	FieldECSServiceName:          {"ecs-service-name", 7, kindString, 0},
	FieldECSTaskDefinitionARN:    {"ecs-task-definition-arn", 7, kindString, 0},
	FieldECSTaskARN:              {"ecs-task-arn", 7, kindString, 0},
	FieldECSTaskID:               {"ecs-task-id", 7, kindString, 0},
	FieldRejectReason:            {"reject-reason", 8, kindString, 0},
	FieldResourceType:            {"resource-type", 6, kindString, 0},
	FieldTGWID:                   {"tgw-id", 6, kindString, 0},
	FieldTGWAttachmentID:         {"tgw-attachment-id", 6, kindString, 0},
	FieldTGWSrcVPCAccountID:      {"tgw-src-vpc-account-id", 6, kindString, 0},
	FieldTGWDstVPCAccountID:      {"tgw-dst-vpc-account-id", 6, kindString, 0},
	FieldTGWSrcVPCID:             {"tgw-src-vpc-id", 6, kindString, 0},
	FieldTGWDstVPCID:             {"tgw-dst-vpc-id", 6, kindString, 0},
	FieldTGWSrcSubnetID:          {"tgw-src-subnet-id", 6, kindString, 0},
	FieldTGWDstSubnetID:          {"tgw-dst-subnet-id", 6, kindString, 0},
	FieldTGWSrcENI:               {"tgw-src-eni", 6, kindString, 0},
	FieldTGWDstENI:               {"tgw-dst-eni", 6, kindString, 0},
	FieldTGWSrcAZID:              {"tgw-src-az-id", 6, kindString, 0},
	FieldTGWDstAZID:              {"tgw-dst-az-id", 6, kindString, 0},
	FieldTGWPairAttachmentID:     {"tgw-pair-attachment-id", 6, kindString, 0},
	FieldPacketsLostNoRoute:      {"packets-lost-no-route", 6, kindUint, maxU64},
	FieldPacketsLostBlackhole:    {"packets-lost-blackhole", 6, kindUint, maxU64},
	FieldPacketsLostMTUExceeded:  {"packets-lost-mtu-exceeded", 6, kindUint, maxU64},
	FieldPacketsLostTTLExpired:   {"packets-lost-ttl-expired", 6, kindUint, maxU64},
}

var fieldByName = func() map[string]Field {
	m := make(map[string]Field, NumFields)
	for f := FieldUnknown + 1; f < NumFields; f++ {
		m[fieldTable[f].name] = f
	}
	return m
}()

// String returns the AWS name of the field ("account-id"), or "unknown".
func (f Field) String() string {
	if f > FieldUnknown && f < NumFields {
		return fieldTable[f].name
	}
	return "unknown"
}

// Version is the flow-log version that introduced the field (6 for the
// transit-gateway fields), 0 for FieldUnknown.
func (f Field) Version() int {
	if f < NumFields {
		return int(fieldTable[f].version)
	}
	return 0
}

// FieldByName returns the field with this AWS name; "${name}" is accepted too.
func FieldByName(name string) (Field, bool) {
	f, ok := fieldByName[trimBraces(name)]
	return f, ok
}

func trimBraces(s string) string {
	if len(s) > 3 && s[0] == '$' && s[1] == '{' && s[len(s)-1] == '}' {
		return s[2 : len(s)-1]
	}
	return s
}

// DefaultFormat is the v2 default format, the columns of a flow log created
// without a custom format.
var DefaultFormat = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// maxColumns bounds a header line: AWS documents fewer than 64 fields.
const maxColumns = 256

// Format is a parsed column list: which field each column of a record holds.
// The zero Format has no columns. A Format is immutable once parsed and safe to
// share between Decoders.
type Format struct {
	cols  []Field
	names []string         // column names as written (kept for unknown header columns)
	idx   [NumFields]int16 // column of each field, -1 when absent
	check []int16          // kindUint columns the decoder does not otherwise parse
	ver   uint8
}

// ParseFormat parses a space-separated field list, "version account-id ..." or
// "${version} ${account-id} ...". Unknown and duplicate names are errors.
func ParseFormat(s string) (Format, error) {
	f, unknown, dup := parseColumns(strings.Fields(s))
	switch {
	case len(f.cols) == 0:
		return Format{}, ErrEmptyFormat
	case unknown != "":
		return Format{}, fmt.Errorf("%w %q", ErrUnknownField, unknown)
	case dup != "":
		return Format{}, fmt.Errorf("%w %q", ErrDuplicateField, dup)
	}
	return f, nil
}

// MustParseFormat is ParseFormat for formats known at compile time; it panics
// on error and is not for input.
func MustParseFormat(s string) Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err)
	}
	return f
}

// parseColumns builds a Format, marking unknown names FieldUnknown. It reports
// the first unknown and the first duplicated name.
func parseColumns(names []string) (f Format, unknown, dup string) {
	for i := range f.idx {
		f.idx[i] = -1
	}
	f.cols = make([]Field, len(names))
	f.names = make([]string, len(names))
	for i, n := range names {
		n = trimBraces(n)
		f.names[i] = n
		fld, ok := fieldByName[n]
		if !ok {
			if unknown == "" {
				unknown = n
			}
			continue
		}
		f.cols[i] = fld
		if f.idx[fld] >= 0 {
			if dup == "" {
				dup = n
			}
			continue
		}
		f.idx[fld] = int16(i)
		f.ver = max(f.ver, fieldTable[fld].version)
		if fieldTable[fld].kind == kindUint && !parsedFields[fld] {
			f.check = append(f.check, int16(i))
		}
	}
	return f, unknown, dup
}

// parsedFields are the numeric fields the decoder parses for the Event; the
// other numeric fields are only validated.
var parsedFields = [NumFields]bool{
	FieldSrcPort: true, FieldDstPort: true, FieldProtocol: true, FieldBytes: true, FieldStart: true,
}

// Len is the number of columns.
func (f Format) Len() int { return len(f.cols) }

// Columns returns the field of each column (FieldUnknown for ignored ones).
func (f Format) Columns() []Field { return append([]Field(nil), f.cols...) }

// Has reports whether the format has a column for fld.
func (f Format) Has(fld Field) bool { return fld > FieldUnknown && fld < NumFields && f.idx[fld] >= 0 }

// Version is the highest flow-log version among the format's fields, the value
// AWS writes in the version column of a custom format.
func (f Format) Version() int { return int(f.ver) }

// String returns the column names separated by spaces, as in a header line.
func (f Format) String() string { return string(f.AppendHeader(nil)) }

// AppendHeader appends the header line for this format (without a newline).
func (f Format) AppendHeader(dst []byte) []byte {
	for i, n := range f.names {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, n...)
	}
	return dst
}

func (f *Format) col(fld Field) int { return int(f.idx[fld]) }

func formatColumnError(i int, f *Format) string {
	if i < len(f.names) {
		return f.names[i]
	}
	return "column " + strconv.Itoa(i+1)
}
