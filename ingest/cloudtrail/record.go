package cloudtrail

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/valyala/fastjson"
)

// fields are the parts of a record the decoder uses, as byte slices into the
// parser's buffer (valid until the next parse). Extracting them is the only
// library-specific step; everything after works on fields.
type fields struct {
	eventTime   []byte
	timeKind    uint8 // timeAbsent, timeString, timeOther
	eventSource []byte
	eventName   []byte
	errorCode   []byte
	awsRegion   []byte
	sourceIP    []byte
	eventID     []byte
	eventType   []byte
	recipient   []byte

	hasIdentity bool // userIdentity is an object
	uiType      []byte
	principalID []byte
	arn         []byte
	accountID   []byte
	accessKeyID []byte
	userName    []byte
	invokedBy   []byte
	onBehalfOf  []byte // onBehalfOf.userId
	sourceIdent []byte // sessionContext.sourceIdentity
	issuerARN   []byte // sessionContext.sessionIssuer.arn

	aedUserName []byte // additionalEventData.UserName
	bytesOut    uint64 // additionalEventData.bytesTransferredOut

	insightSource []byte // insightDetails.eventSource
	insightName   []byte // insightDetails.eventName
}

const (
	timeAbsent = iota // missing, null or ""
	timeString
	timeOther // present but not a string
)

// str returns v's string value, or nil if v is missing or not a string.
func str(v *fastjson.Value) []byte {
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	return b
}

// extract fills f from a record object in a single pass over its keys.
func extract(v *fastjson.Value, f *fields) {
	*f = fields{}
	o, err := v.Object()
	if err != nil {
		return
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "eventTime":
			switch v.Type() {
			case fastjson.TypeString:
				f.eventTime = str(v)
				if len(f.eventTime) > 0 {
					f.timeKind = timeString
				}
			case fastjson.TypeNull:
			default:
				f.timeKind = timeOther
			}
		case "eventSource":
			f.eventSource = str(v)
		case "eventName":
			f.eventName = str(v)
		case "errorCode":
			f.errorCode = str(v)
		case "awsRegion":
			f.awsRegion = str(v)
		case "sourceIPAddress":
			f.sourceIP = str(v)
		case "eventID":
			f.eventID = str(v)
		case "eventType":
			f.eventType = str(v)
		case "recipientAccountId":
			f.recipient = str(v)
		case "userIdentity":
			extractIdentity(v, f)
		case "additionalEventData":
			if v.Type() == fastjson.TypeObject {
				f.aedUserName = str(v.Get("UserName"))
				f.bytesOut = egressBytes(v.Get("bytesTransferredOut"))
			}
		case "insightDetails":
			if v.Type() == fastjson.TypeObject {
				f.insightSource = str(v.Get("eventSource"))
				f.insightName = str(v.Get("eventName"))
			}
		}
	})
}

func extractIdentity(v *fastjson.Value, f *fields) {
	o, err := v.Object()
	if err != nil {
		return
	}
	f.hasIdentity = true
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "type":
			f.uiType = str(v)
		case "principalId":
			f.principalID = str(v)
		case "arn":
			f.arn = str(v)
		case "accountId":
			f.accountID = str(v)
		case "accessKeyId":
			f.accessKeyID = str(v)
		case "userName":
			f.userName = str(v)
		case "invokedBy":
			f.invokedBy = str(v)
		case "onBehalfOf":
			f.onBehalfOf = str(v.Get("userId"))
		case "sessionContext":
			f.sourceIdent = str(v.Get("sourceIdentity"))
			f.issuerARN = str(v.Get("sessionIssuer", "arn"))
		}
	})
}

// egressBytes reads bytesTransferredOut: a JSON number in real records, a
// numeric string in some re-serialised ones. Anything else counts as zero.
func egressBytes(v *fastjson.Value) uint64 {
	if v == nil {
		return 0
	}
	var f float64
	switch v.Type() {
	case fastjson.TypeNumber:
		if n, err := v.Uint64(); err == nil {
			return n
		}
		f, _ = v.Float64()
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if n, err := strconv.ParseUint(string(b), 10, 64); err == nil {
			return n
		}
		f, _ = strconv.ParseFloat(string(b), 64)
	default:
		return 0
	}
	if f >= 0 && f < math.MaxUint64 { // false for NaN
		return uint64(f)
	}
	return 0
}

func isInsight(f *fields) bool { return string(f.eventType) == "AwsCloudTrailInsight" }

// recordValue decodes a parsed record. raw is the record as read, for the
// sink; nil means re-serialise v if a reject or insight needs it.
func (d *Decoder) recordValue(v *fastjson.Value, raw []byte, pos ingest.Position) {
	rawOf := func() []byte {
		if raw == nil {
			d.tmp = v.MarshalTo(d.tmp[:0])
			raw = d.tmp
		}
		return raw
	}
	if v.Type() != fastjson.TypeObject {
		d.reject(ingest.ReasonMalformedJSON, fmt.Sprintf("record is a JSON %s, not an object", v.Type()), pos, rawOf())
		return
	}
	f := &d.f
	extract(v, f)
	ev := &d.ev
	*ev = ingest.Event{Source: ingest.SourceCloudTrail, Pos: pos}
	if reason, detail := d.setTime(f, ev); reason != "" {
		d.reject(reason, detail, pos, rawOf())
		return
	}
	if isInsight(f) {
		d.buildInsight(f, ev)
		d.sink.Insight(ev, rawOf())
		return
	}
	if reason, detail := d.build(f, ev); reason != "" {
		d.reject(reason, detail, pos, rawOf())
		return
	}
	d.sink.Event(ev)
}

func (d *Decoder) setTime(f *fields, ev *ingest.Event) (ingest.Reason, string) {
	switch f.timeKind {
	case timeAbsent:
		return ingest.ReasonNoTime, "record has no eventTime"
	case timeOther:
		return ingest.ReasonBadTime, "eventTime is not a string"
	}
	t, err := parseTime(f.eventTime, d.assumeUTC)
	if err != "" {
		if err == "no time zone" {
			err = "no time zone (RFC 3339 requires one; Options.AssumeUTC reads it as UTC)"
		}
		return ingest.ReasonBadTime, fmt.Sprintf("eventTime %q: %s", trimForDetail(f.eventTime), err)
	}
	ev.Time = t
	return "", ""
}

// build fills ev (time already set) from f, or says why it cannot.
func (d *Decoder) build(f *fields, ev *ingest.Event) (ingest.Reason, string) {
	if len(f.eventSource) == 0 || len(f.eventName) == 0 {
		return ingest.ReasonNoAction, "record lacks eventSource or eventName"
	}
	p, ok := resolvePrincipal(f, d.keyBuf[:0])
	if !ok {
		if !f.hasIdentity {
			return ingest.ReasonNoPrincipal, "record has no userIdentity object"
		}
		return ingest.ReasonNoPrincipal, fmt.Sprintf("userIdentity of type %q has none of the fields that identify it", trimForDetail(f.uiType))
	}
	ev.Principal = ingest.Principal{
		Key:         d.tab.str(p.key),
		Type:        p.typ,
		Account:     d.tab.str(p.account),
		SubKey:      d.tab.str(p.sub),
		AccessKeyID: d.tab.str(f.accessKeyID),
	}
	ev.Action = d.action(f.eventSource, f.eventName)
	ev.ErrorCode = d.tab.str(f.errorCode)
	ev.Region = d.tab.str(f.awsRegion)
	ev.SourceIP = parseIP(f.sourceIP)
	ev.EventID = copyStr(f.eventID)
	ev.EgressBytes = f.bytesOut
	return "", ""
}

// buildInsight fills an Insights event: it describes an account's API call
// rate, not a principal, so only the account is set.
func (d *Decoder) buildInsight(f *fields, ev *ingest.Event) {
	src, name := f.insightSource, f.insightName
	if len(src) == 0 && len(name) == 0 {
		src, name = f.eventSource, f.eventName
	}
	if len(src) > 0 || len(name) > 0 {
		ev.Action = d.action(src, name)
	}
	ev.Region = d.tab.str(f.awsRegion)
	ev.EventID = copyStr(f.eventID)
	ev.Principal.Account = d.tab.str(f.recipient)
}

// action interns eventSource:eventName.
func (d *Decoder) action(src, name []byte) string {
	d.tmp = append(append(append(d.tmp[:0], src...), ':'), name...)
	return d.tab.str(d.tmp)
}

// parseIP returns sourceIPAddress as an address, or the zero Addr when it is
// a service name ("ec2.amazonaws.com", "AWS Internal").
func parseIP(b []byte) netip.Addr {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}
	}
	// The string only lives for the call: ParseAddr keeps no reference to it
	// (a zone is interned by copying), so it may alias the parser's buffer.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}
	}
	return a
}
