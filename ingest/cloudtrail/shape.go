package cloudtrail

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/valyala/fastjson"
)

// Shape detection for one complete JSON value. CloudTrail records never carry
// the keys that mark the envelopes (Records, messageType, detail-type, Events,
// digestStartTime), so the checks below cannot mistake a record for an
// envelope.

// recordKeys mark a JSON object as a CloudTrail record.
var recordKeys = []string{
	"eventVersion", "eventTime", "eventSource", "eventName", "userIdentity",
	"eventType", "eventID", "awsRegion", "recipientAccountId",
}

func looksLikeRecord(v *fastjson.Value) bool {
	for _, k := range recordKeys {
		if v.Get(k) != nil {
			return true
		}
	}
	return false
}

// dispatchValue routes a parsed top-level value (or element of a top-level
// array) found at w by its shape.
func (d *Decoder) dispatchValue(raw []byte, v *fastjson.Value, w where) {
	if v.Type() != fastjson.TypeObject {
		d.reject(ingest.ReasonMalformedJSON, fmt.Sprintf("a JSON %s, not an object", v.Type()), d.at(w), raw)
		return
	}
	switch {
	case v.Get("Records") != nil:
		recs, err := v.Get("Records").Array()
		if err != nil {
			d.reject(ingest.ReasonUnknownShape, "Records is not an array", d.at(w), raw)
			return
		}
		for _, r := range recs {
			d.recordValue(r, nil, d.at(w))
		}
	case v.Get("messageType") != nil:
		d.cwl(raw, w)
	case v.Get("detail-type") != nil:
		detail := v.Get("detail")
		if detail == nil || detail.Type() != fastjson.TypeObject || !looksLikeRecord(detail) {
			d.reject(ingest.ReasonUnknownShape, fmt.Sprintf("EventBridge event with detail-type %q carries no CloudTrail record", trimForDetail(v.GetStringBytes("detail-type"))), d.at(w), raw)
			return
		}
		d.recordValue(detail, raw, d.at(w))
	case v.Get("Events") != nil:
		evs, err := v.Get("Events").Array()
		if err != nil {
			d.reject(ingest.ReasonUnknownShape, "Events is not an array", d.at(w), raw)
			return
		}
		for _, e := range evs {
			d.lookupValue(e, nil, d.at(w))
		}
	case v.Get("digestStartTime") != nil || v.Get("digestEndTime") != nil ||
		v.Get("logFiles") != nil && v.Get("awsAccountId") != nil:
		d.reject(ingest.ReasonDigestFile, fmt.Sprintf(
			"CloudTrail digest file (log file integrity validation) for account %q covering %q to %q: it lists log files and carries no events",
			trimForDetail(v.GetStringBytes("awsAccountId")), trimForDetail(v.GetStringBytes("digestStartTime")),
			trimForDetail(v.GetStringBytes("digestEndTime"))), d.at(w), raw)
	case looksLikeRecord(v):
		d.recordValue(v, raw, d.at(w))
	default:
		d.reject(ingest.ReasonUnknownShape, "JSON object is none of the CloudTrail shapes; keys: "+keyList(v), d.at(w), raw)
	}
}

// keyList names up to 8 of an object's keys, sorted, for a reject's detail.
func keyList(v *fastjson.Value) string {
	o, err := v.Object()
	if err != nil {
		return ""
	}
	var keys []string
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if len(keys) < 8 {
			keys = append(keys, fmt.Sprintf("%q", trimForDetail(k)))
		}
	})
	if len(keys) == 0 {
		return "(none)"
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// lookupValue decodes one entry of `aws cloudtrail lookup-events` output,
// whose CloudTrailEvent holds the record as a JSON string.
func (d *Decoder) lookupValue(e *fastjson.Value, raw []byte, pos ingest.Position) {
	s := e.GetStringBytes("CloudTrailEvent")
	if s == nil {
		if raw == nil {
			raw = e.MarshalTo(d.tmp[:0])
		}
		d.reject(ingest.ReasonUnknownShape, "lookup-events entry without a CloudTrailEvent string", pos, raw)
		return
	}
	d.innerRecord(s, pos)
}

// innerRecord decodes a record carried as a JSON string (already unescaped).
func (d *Decoder) innerRecord(s []byte, pos ingest.Position) {
	if len(s) > d.max {
		d.reject(ingest.ReasonRecordTooLarge, fmt.Sprintf("record of %d bytes exceeds the %d-byte limit", len(s), d.max), pos, nil)
		return
	}
	v, err := d.inner.ParseBytes(s)
	if err != nil {
		d.reject(ingest.ReasonMalformedJSON, err.Error(), pos, s)
		return
	}
	d.recordValue(v, s, pos)
}

// cwl decodes a CloudWatch Logs subscription payload: each log event's
// message is one CloudTrail record.
func (d *Decoder) cwl(raw []byte, w where) {
	env, err := ingest.ParseCWL(raw)
	if err != nil {
		d.reject(ingest.ReasonUnknownShape, err.Error(), d.at(w), raw)
		return
	}
	if env.MessageType == ingest.CWLControlMessage {
		d.sink.Skip(ingest.SkipControlMessage, d.at(w))
		return
	}
	for i := range env.LogEvents {
		d.msg = append(d.msg[:0], env.LogEvents[i].Message...)
		d.innerRecord(d.msg, d.at(w))
	}
}

// trimForDetail bounds input quoted into a reject's Detail.
func trimForDetail(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
