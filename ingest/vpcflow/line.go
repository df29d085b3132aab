package vpcflow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/trailwatch/trailwatch/ingest"
)

// DecodeLine decodes one line with the current columns: a header line switches
// them, a record becomes an Event, a Skip or a Reject. The line may be a JSON
// {"message": "<flow line>"} wrapper or a CloudWatch Logs subscription payload.
// pos is passed through to the sink as is.
func (d *Decoder) DecodeLine(line []byte, pos ingest.Position, sink ingest.Sink) {
	d.decodeText(line, pos, sink, false)
}

func (d *Decoder) decodeText(line []byte, pos ingest.Position, sink ingest.Sink, nested bool) {
	line = trimLine(line)
	if len(line) == 0 {
		sink.Skip(ingest.SkipBlank, pos)
		return
	}
	if line[0] == '{' || line[0] == '[' {
		if nested {
			d.reject(sink, ingest.ReasonUnknownFormat, "message is JSON, not a flow-log line", pos, line)
			return
		}
		d.decodeJSON(line, pos, sink)
		return
	}
	d.fields = split(d.fields[:0], line, maxColumns)
	if isHeader(d.fields) {
		d.setHeader(line, pos, sink)
		return
	}
	d.decodeRecord(line, d.fields, pos, sink)
}

// isHeader reports whether tokens are a header line: every token a field name
// in form ("version", "${version}", or an unknown lower-case name, since AWS
// adds fields) and at least one a field this package knows. Record values never
// qualify: a record has numbers, addresses or "-", and ids are not field names.
func isHeader(toks [][]byte) bool {
	if len(toks) == 0 || len(toks) > maxColumns {
		return false
	}
	known := false
	for _, t := range toks {
		if len(t) > 3 && t[0] == '$' && t[1] == '{' && t[len(t)-1] == '}' {
			t = t[2 : len(t)-1]
		}
		if len(t) == 0 || t[0] < 'a' || t[0] > 'z' {
			return false
		}
		for _, c := range t {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		if !known {
			_, known = fieldByName[string(t)]
		}
	}
	return known
}

func (d *Decoder) setHeader(line []byte, pos ingest.Position, sink ingest.Sink) {
	f, ok := d.headers[string(line)]
	if !ok {
		names := make([]string, len(d.fields))
		for i, t := range d.fields {
			names[i] = string(t)
		}
		if nf, _, dup := parseColumns(names); dup == "" {
			f = &nf
		}
		if len(d.headers) >= maxHeaders {
			clear(d.headers)
		}
		d.headers[string(line)] = f
	}
	d.cur = f
	if f == nil {
		d.reject(sink, ingest.ReasonBadFlowFormat, "header line names a field twice; records up to the next header have no columns", pos, line)
		return
	}
	sink.Skip(ingest.SkipHeader, pos)
}

var (
	bOK       = []byte("OK")
	bNoData   = []byte("NODATA")
	bSkipData = []byte("SKIPDATA")
	bAccept   = []byte("ACCEPT")
	bReject   = []byte("REJECT")
	bIngress  = []byte("ingress")
	bEgress   = []byte("egress")
	bUnknown  = []byte("unknown")
)

// ActionReject is Event.ErrorCode of a flow whose action is REJECT: the flow
// analogue of a denied API call. Accepted flows have an empty ErrorCode.
const ActionReject = "REJECT"

func (d *Decoder) badField(sink ingest.Sink, f *Format, col int, v []byte, pos ingest.Position, line []byte) {
	d.reject(sink, ingest.ReasonBadFlowLine, formatColumnError(col, f)+": invalid value "+quote(v), pos, line)
}

// decodeRecord turns the tokens of one record line into an Event. Checks run
// in a fixed order so that a record's outcome does not depend on its columns'
// order: shape, log-status, values, time, principal.
func (d *Decoder) decodeRecord(line []byte, toks [][]byte, pos ingest.Position, sink ingest.Sink) {
	f := d.cur
	if f == nil {
		d.reject(sink, ingest.ReasonNoFlowFormat, "no header line and no configured format", pos, line)
		return
	}
	if len(toks) != len(f.cols) {
		n := strconv.Itoa(len(toks))
		if len(toks) > maxColumns {
			n = "more than " + strconv.Itoa(maxColumns)
		}
		d.reject(sink, ingest.ReasonBadFlowLine, n+" fields, format has "+strconv.Itoa(len(f.cols)), pos, line)
		return
	}
	if i := f.col(FieldLogStatus); i >= 0 {
		switch v := toks[i]; {
		case bytes.Equal(v, bOK), isNull(v):
		case bytes.Equal(v, bNoData):
			sink.Skip(ingest.SkipNoData, pos)
			return
		case bytes.Equal(v, bSkipData):
			sink.Skip(ingest.SkipSkipData, pos)
			return
		default:
			d.badField(sink, f, i, v, pos, line)
			return
		}
	}
	for _, i := range f.check {
		if v := toks[i]; !isNull(v) {
			if _, ok := parseUint(v, fieldTable[f.cols[i]].max); !ok {
				d.badField(sink, f, int(i), v, pos, line)
				return
			}
		}
	}

	ev := &d.ev
	*ev = ingest.Event{Source: ingest.SourceVPCFlow, Pos: pos}

	if i := f.col(FieldAction); i >= 0 {
		switch v := toks[i]; {
		case bytes.Equal(v, bAccept), isNull(v):
		case bytes.Equal(v, bReject):
			ev.ErrorCode = ActionReject
		default:
			d.badField(sink, f, i, v, pos, line)
			return
		}
	}
	var dir direction
	if i := f.col(FieldFlowDirection); i >= 0 {
		switch v := toks[i]; {
		case bytes.Equal(v, bEgress):
			dir = dirEgress
		case bytes.Equal(v, bIngress):
			dir = dirIngress
		case isNull(v):
		default:
			d.badField(sink, f, i, v, pos, line)
			return
		}
	}

	var nums [5]uint64 // start, bytes, srcport, dstport, protocol
	hasStart := false
	for k, fld := range [...]Field{FieldStart, FieldBytes, FieldSrcPort, FieldDstPort, FieldProtocol} {
		i := f.col(fld)
		if i < 0 || isNull(toks[i]) {
			continue
		}
		v, ok := parseUint(toks[i], fieldTable[fld].max)
		if !ok {
			d.badField(sink, f, i, toks[i], pos, line)
			return
		}
		nums[k] = v
		hasStart = hasStart || k == 0
	}

	var addrs [4]netip.Addr // srcaddr, dstaddr, pkt-srcaddr, pkt-dstaddr
	for k, fld := range [...]Field{FieldSrcAddr, FieldDstAddr, FieldPktSrcAddr, FieldPktDstAddr} {
		i := f.col(fld)
		if i < 0 || isNull(toks[i]) {
			continue
		}
		a, ok := parseAddr(toks[i])
		if !ok {
			d.badField(sink, f, i, toks[i], pos, line)
			return
		}
		addrs[k] = a
	}

	if !hasStart {
		d.reject(sink, ingest.ReasonNoTime, "record has no start time", pos, line)
		return
	}
	ev.Time = time.Unix(int64(nums[0]), 0).UTC()

	if i := f.col(FieldInstanceID); i >= 0 && !isNull(toks[i]) {
		ev.Principal.Key = d.intern(toks[i])
		ev.Principal.Type = ingest.PrincipalInstance
	} else if i := f.col(FieldInterfaceID); i >= 0 && !isNull(toks[i]) {
		ev.Principal.Key = d.intern(toks[i])
		ev.Principal.Type = ingest.PrincipalNetworkInterface
	} else {
		detail := "record has no instance-id or interface-id"
		if f.Has(FieldTGWID) || f.Has(FieldTGWAttachmentID) {
			detail = "transit-gateway record: no instance-id or interface-id to attribute it to"
		}
		d.reject(sink, ingest.ReasonNoPrincipal, detail, pos, line)
		return
	}
	if i := f.col(FieldAccountID); i >= 0 {
		if v := toks[i]; !isNull(v) && !bytes.Equal(v, bUnknown) {
			ev.Principal.Account = d.intern(v)
		}
	}
	if i := f.col(FieldRegion); i >= 0 && !isNull(toks[i]) {
		ev.Region = d.intern(toks[i])
	}

	src, dst := addrs[0], addrs[1]
	if addrs[2].IsValid() {
		src = addrs[2]
	}
	if addrs[3].IsValid() {
		dst = addrs[3]
	}
	var svc []byte
	if i := f.col(FieldPktDstAWSService); i >= 0 && !isNull(toks[i]) {
		svc = toks[i]
	}
	egress, remoteIsSrc := d.classify(dir, src, dst, svc)
	ev.SourceIP = src
	ev.Protocol = uint8(nums[4])
	if remoteIsSrc {
		ev.PeerAddr, ev.PeerPort = src, uint16(nums[2])
	} else {
		ev.PeerAddr, ev.PeerPort = dst, uint16(nums[3])
	}
	// A rejected flow carried nothing out: the security group or NACL
	// dropped it. It stays an event (with ErrorCode REJECT) but adds no egress.
	if egress && ev.ErrorCode != ActionReject {
		ev.EgressBytes = nums[1]
	}
	sink.Event(ev)
}

// decodeJSON handles a line that is a JSON object: a CloudWatch Logs
// subscription payload, or a wrapper whose "message" is one flow line.
func (d *Decoder) decodeJSON(line []byte, pos ingest.Position, sink ingest.Sink) {
	if ingest.LooksLikeCWL(line) {
		d.decodeCWL(line, pos, sink)
		return
	}
	v, err := d.jp.ParseBytes(line)
	if err != nil {
		d.reject(sink, ingest.ReasonMalformedJSON, err.Error(), pos, line)
		return
	}
	o, err := v.Object()
	if err != nil {
		d.reject(sink, ingest.ReasonMalformedJSON, "JSON "+v.Type().String()+", not an object", pos, line)
		return
	}
	m := o.Get("message")
	if m == nil {
		d.reject(sink, ingest.ReasonUnknownFormat,
			`JSON object without a "message" string: not a flow-log line (normalised JSON flow records are not supported)`, pos, line)
		return
	}
	msg, err := m.StringBytes()
	if err != nil {
		d.reject(sink, ingest.ReasonUnknownFormat, `JSON "message" is not a string`, pos, line)
		return
	}
	d.decodeText(msg, pos, sink, true)
}

// decodeCWL decodes CloudWatch Logs subscription payloads on one line
// (Firehose concatenates them without separators). Log event i of a payload
// gets Position.Index i.
func (d *Decoder) decodeCWL(line []byte, pos ingest.Position, sink ingest.Sink) {
	dec := json.NewDecoder(bytes.NewReader(line))
	for {
		var env ingest.CWLEnvelope
		err := dec.Decode(&env)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			d.reject(sink, ingest.ReasonMalformedJSON, "CloudWatch Logs payload: "+err.Error(), pos, line)
			return
		}
		switch env.MessageType {
		case ingest.CWLControlMessage:
			sink.Skip(ingest.SkipControlMessage, pos)
			continue
		case ingest.CWLDataMessage:
		default:
			d.reject(sink, ingest.ReasonUnknownFormat, fmt.Sprintf("CloudWatch Logs payload with messageType %q", env.MessageType), pos, line)
			continue
		}
		for i := range env.LogEvents {
			p := pos
			p.Index = int64(i)
			d.decodeText([]byte(env.LogEvents[i].Message), p, sink, true)
		}
	}
}
