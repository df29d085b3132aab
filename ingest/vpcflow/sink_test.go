package vpcflow

import (
	"fmt"
	"strings"

	"github.com/trailwatch/trailwatch/ingest"
)

// recorder is an ingest.Sink that keeps everything it is given, and a
// one-line description of each outcome in order.
type recorder struct {
	events   []ingest.Event
	rejects  []ingest.Reject
	skips    []ingest.Reason
	outcomes []string
	poss     []ingest.Position
}

var _ ingest.Sink = (*recorder)(nil)

func (r *recorder) Event(ev *ingest.Event) {
	r.events = append(r.events, *ev)
	r.outcomes = append(r.outcomes, describeEvent(ev))
	r.poss = append(r.poss, ev.Pos)
}

func (r *recorder) Insight(ev *ingest.Event, raw []byte) {
	r.outcomes = append(r.outcomes, "insight?!")
	r.poss = append(r.poss, ev.Pos)
}

func (r *recorder) Reject(rj *ingest.Reject) {
	c := *rj
	c.Raw = append([]byte(nil), rj.Raw...)
	r.rejects = append(r.rejects, c)
	r.outcomes = append(r.outcomes, "reject "+string(rj.Reason)+": "+rj.Detail)
	r.poss = append(r.poss, rj.Pos)
}

func (r *recorder) Skip(reason ingest.Reason, pos ingest.Position) {
	r.skips = append(r.skips, reason)
	r.outcomes = append(r.outcomes, "skip "+string(reason))
	r.poss = append(r.poss, pos)
}

func describeEvent(ev *ingest.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "event %s %s:%s", ev.Time.Format("2006-01-02T15:04:05Z"), ev.Principal.Type, ev.Principal.Key)
	if ev.Principal.Account != "" {
		fmt.Fprintf(&b, " acct=%s", ev.Principal.Account)
	}
	fmt.Fprintf(&b, " src=%s peer=%s proto=%d", addrStr(ev.SourceIP), peerStr(ev), ev.Protocol)
	if ev.EgressBytes > 0 {
		fmt.Fprintf(&b, " egress=%d", ev.EgressBytes)
	}
	if ev.Region != "" {
		fmt.Fprintf(&b, " region=%s", ev.Region)
	}
	if ev.ErrorCode != "" {
		fmt.Fprintf(&b, " %s", ev.ErrorCode)
	}
	if ev.Source != ingest.SourceVPCFlow {
		fmt.Fprintf(&b, " source=%s?!", ev.Source)
	}
	return b.String()
}

func addrStr(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func peerStr(ev *ingest.Event) string {
	if ev.PeerAddr.Is6() {
		return fmt.Sprintf("[%s]:%d", ev.PeerAddr, ev.PeerPort)
	}
	return fmt.Sprintf("%s:%d", addrStr(ev.PeerAddr), ev.PeerPort)
}
