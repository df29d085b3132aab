package cloudtrail

import (
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// outcome is what a sink received for one record.
type outcome struct {
	Kind   string // "event", "insight", "reject", "skip"
	Event  ingest.Event
	Reason ingest.Reason
	Detail string
	Pos    ingest.Position
	Raw    string
}

// recSink records every call, copying what the decoder may reuse.
type recSink struct{ out []outcome }

func (s *recSink) Event(ev *ingest.Event) {
	s.out = append(s.out, outcome{Kind: "event", Event: *ev, Pos: ev.Pos})
}

func (s *recSink) Insight(ev *ingest.Event, raw []byte) {
	s.out = append(s.out, outcome{Kind: "insight", Event: *ev, Pos: ev.Pos, Raw: string(raw)})
}

func (s *recSink) Reject(r *ingest.Reject) {
	s.out = append(s.out, outcome{Kind: "reject", Reason: r.Reason, Detail: r.Detail, Pos: r.Pos, Raw: string(r.Raw)})
}

func (s *recSink) Skip(reason ingest.Reason, pos ingest.Position) {
	s.out = append(s.out, outcome{Kind: "skip", Reason: reason, Pos: pos})
}

func (s *recSink) kinds() string {
	var b strings.Builder
	for i, o := range s.out {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(o.Kind)
		if o.Reason != "" {
			b.WriteString(":" + string(o.Reason))
		}
	}
	return b.String()
}

// eventLine renders an Event's fields (Pos aside) on one line.
func eventLine(ev *ingest.Event) string {
	p := ev.Principal
	var b strings.Builder
	fmt.Fprintf(&b, "time=%s type=%s key=%q", ev.Time.Format(time.RFC3339Nano), p.Type, p.Key)
	if p.SubKey != "" {
		fmt.Fprintf(&b, " sub=%q", p.SubKey)
	}
	fmt.Fprintf(&b, " account=%q", p.Account)
	if p.AccessKeyID != "" {
		fmt.Fprintf(&b, " akid=%q", p.AccessKeyID)
	}
	fmt.Fprintf(&b, " action=%q region=%q", ev.Action, ev.Region)
	if ev.SourceIP.IsValid() {
		fmt.Fprintf(&b, " ip=%s", ev.SourceIP)
	}
	if ev.ErrorCode != "" {
		fmt.Fprintf(&b, " error=%q", ev.ErrorCode)
	}
	if ev.EgressBytes != 0 {
		fmt.Fprintf(&b, " egress=%d", ev.EgressBytes)
	}
	if ev.EventID != "" {
		fmt.Fprintf(&b, " id=%q", ev.EventID)
	}
	return b.String()
}

func (o outcome) String() string {
	switch o.Kind {
	case "event", "insight":
		return o.Kind + " " + eventLine(&o.Event)
	case "reject":
		return fmt.Sprintf("reject %s: %s", o.Reason, o.Detail)
	}
	return fmt.Sprintf("skip %s", o.Reason)
}
