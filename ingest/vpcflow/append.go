package vpcflow

import (
	"net/netip"
	"strconv"

	"github.com/trailwatch/trailwatch/ingest"
)

// Fields holds column values an Event does not determine (end, packets,
// vpc-id, tcp-flags, ...), indexed by Field, for AppendLine. An empty string
// means "use the default". Values must be single tokens valid for their field.
type Fields [NumFields]string

// AppendLine appends a record line (without a newline) in format f that
// decodes back to ev (Pos aside) under a Decoder with the default Internal
// space and no ExcludeServices. Use Decoder.AppendLine for other options.
//
// Columns the event determines (time, principal, account, region, source,
// remote side, protocol, egress bytes, action) are written from ev; the rest
// come from extra (nil: defaults: "-" for ids, end = start, log-status OK).
// Where an extra value would change how the line decodes (e.g. a bytes count on
// a flow that decodes as egress, or a flow-direction that flips the remote
// side), AppendLine overrides it. ev should be one a Decoder could produce for
// f: a format without start or principal columns cannot carry an event.
func AppendLine(dst []byte, f Format, ev *ingest.Event, extra *Fields) []byte {
	return appendLine(dst, &defaultClassifier, &f, ev, extra)
}

// AppendLine is the package-level AppendLine under this decoder's Internal
// space and ExcludeServices.
func (d *Decoder) AppendLine(dst []byte, f Format, ev *ingest.Event, extra *Fields) []byte {
	return appendLine(dst, &d.classifier, &f, ev, extra)
}

// plan is the part of a line that decides direction, egress and remote side.
type plan struct {
	dir              string // flow-direction column
	dst              netip.Addr
	srcPort, dstPort string
	bytes            string
	svc              string // pkt-dst-aws-service column
}

func parseDir(s string) direction {
	switch s {
	case "egress":
		return dirEgress
	case "ingress":
		return dirIngress
	}
	return dirUnknown
}

// choosePlan finds values for the direction-deciding columns under which c
// classifies the flow as ev says. It prefers extra's values and falls back to
// the simplest values that work.
func choosePlan(c *classifier, f *Format, ev *ingest.Event, extra *Fields) plan {
	get := func(fld Field, def string) string {
		if extra != nil && extra[fld] != "" {
			return extra[fld]
		}
		return def
	}
	hasDir := f.Has(FieldFlowDirection)
	peerPort := strconv.Itoa(int(ev.PeerPort))
	base := plan{dir: "-", svc: get(FieldPktDstAWSService, "-"), srcPort: get(FieldSrcPort, "-"),
		dstPort: get(FieldDstPort, "-"), bytes: get(FieldBytes, "0")}
	if !f.Has(FieldPktDstAWSService) {
		base.svc = "-"
	}
	svcOf := func(p *plan) []byte {
		if p.svc == "-" {
			return nil
		}
		return []byte(p.svc)
	}
	dirs := []string{"-"}
	if hasDir {
		dirs = []string{get(FieldFlowDirection, ""), "ingress", "egress", "-"}
	}
	works := func(p *plan, wantRemoteSrc bool) bool {
		egress, remoteSrc := c.classify(parseDir(p.dir), ev.SourceIP, p.dst, svcOf(p))
		if remoteSrc != wantRemoteSrc {
			return false
		}
		if egress {
			p.bytes = strconv.FormatUint(ev.EgressBytes, 10)
			return true
		}
		return ev.EgressBytes == 0
	}
	// Remote side = source: only an inbound flow whose peer is its source.
	if ev.EgressBytes == 0 && ev.PeerAddr == ev.SourceIP {
		p := base
		p.srcPort = peerPort
		if extra != nil && extra[FieldDstAddr] != "" {
			p.dst, _ = netip.ParseAddr(extra[FieldDstAddr])
		}
		for _, dir := range dirs {
			if dir == "" {
				continue
			}
			p.dir = dir
			if works(&p, true) {
				return p
			}
		}
	}
	// Remote side = destination.
	p := base
	p.dst, p.dstPort = ev.PeerAddr, peerPort
	for _, svc := range []string{base.svc, "-"} {
		p.svc = svc
		for _, dir := range dirs {
			if dir == "" {
				continue
			}
			p.dir = dir
			if works(&p, false) {
				return p
			}
		}
	}
	// Non-egress but every direction decodes as egress: write zero bytes.
	p.svc, p.bytes = base.svc, "0"
	if hasDir {
		p.dir = "egress"
	}
	return p
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(dst, '-')
	}
	return a.AppendTo(dst)
}

func appendLine(dst []byte, c *classifier, f *Format, ev *ingest.Event, extra *Fields) []byte {
	get := func(fld Field, def string) string {
		if extra != nil && extra[fld] != "" {
			return extra[fld]
		}
		return def
	}
	p := choosePlan(c, f, ev, extra)
	start := ev.Time.Unix()
	for i, fld := range f.cols {
		if i > 0 {
			dst = append(dst, ' ')
		}
		switch fld {
		case FieldVersion:
			dst = append(dst, get(fld, strconv.Itoa(max(f.Version(), 2)))...)
		case FieldAccountID:
			dst = appendOr(dst, ev.Principal.Account)
		case FieldInstanceID:
			if ev.Principal.Type == ingest.PrincipalInstance {
				dst = appendOr(dst, ev.Principal.Key)
			} else {
				dst = append(dst, '-')
			}
		case FieldInterfaceID:
			if ev.Principal.Type == ingest.PrincipalNetworkInterface {
				dst = appendOr(dst, ev.Principal.Key)
			} else {
				dst = append(dst, get(fld, "-")...)
			}
		case FieldSrcAddr:
			if f.Has(FieldPktSrcAddr) && ev.SourceIP.IsValid() {
				dst = append(dst, get(fld, ev.SourceIP.String())...)
			} else {
				dst = appendAddr(dst, ev.SourceIP)
			}
		case FieldPktSrcAddr:
			dst = appendAddr(dst, ev.SourceIP)
		case FieldDstAddr:
			if f.Has(FieldPktDstAddr) && p.dst.IsValid() {
				dst = append(dst, get(fld, p.dst.String())...)
			} else {
				dst = appendAddr(dst, p.dst)
			}
		case FieldPktDstAddr:
			dst = appendAddr(dst, p.dst)
		case FieldSrcPort:
			dst = append(dst, p.srcPort...)
		case FieldDstPort:
			dst = append(dst, p.dstPort...)
		case FieldProtocol:
			dst = strconv.AppendUint(dst, uint64(ev.Protocol), 10)
		case FieldBytes:
			dst = append(dst, p.bytes...)
		case FieldStart:
			dst = strconv.AppendInt(dst, start, 10)
		case FieldEnd:
			if v := get(fld, ""); v != "" {
				dst = append(dst, v...)
			} else {
				dst = strconv.AppendInt(dst, start, 10)
			}
		case FieldPackets:
			dst = append(dst, get(fld, "1")...)
		case FieldAction:
			if ev.ErrorCode == ActionReject {
				dst = append(dst, "REJECT"...)
			} else if v := get(fld, "ACCEPT"); v == "-" {
				dst = append(dst, '-')
			} else {
				dst = append(dst, "ACCEPT"...)
			}
		case FieldLogStatus:
			if v := get(fld, "OK"); v == "-" {
				dst = append(dst, '-')
			} else {
				dst = append(dst, "OK"...)
			}
		case FieldRegion:
			dst = appendOr(dst, ev.Region)
		case FieldFlowDirection:
			dst = append(dst, p.dir...)
		case FieldPktDstAWSService:
			dst = append(dst, p.svc...)
		case FieldType:
			def := "IPv4"
			if ev.SourceIP.Is6() {
				def = "IPv6"
			}
			dst = append(dst, get(fld, def)...)
		default:
			dst = append(dst, get(fld, "-")...)
		}
	}
	return dst
}

func appendOr(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return append(dst, s...)
}
