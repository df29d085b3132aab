package vpcflow

import (
	"bufio"
	"fmt"
	"net/netip"
	"strings"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/valyala/fastjson"
)

// Options configure a Decoder. The zero value decodes the v2 default format
// with RFC 1918 / CGNAT / ULA as the internal address space.
type Options struct {
	// Format is the space-separated field list used when a stream has no
	// header line (CloudWatch Logs and Kafka delivery), e.g. "${version}
	// ${account-id} ..." or "version account-id ...". Default: DefaultFormat.
	Format string
	// RequireHeader disables the default format: records before any header
	// line are rejected with ReasonNoFlowFormat. For S3 delivery, where a
	// missing header means the object is not what it claims to be.
	RequireHeader bool
	// Internal is the internal address space; default RFC 1918, 100.64.0.0/10
	// and fc00::/7. A flow from inside to outside it is egress when the record
	// has no flow-direction.
	Internal []netip.Prefix
	// ExcludeServices are pkt-dst-aws-service values (e.g. "S3") whose
	// traffic is never egress. Compared case-insensitively.
	ExcludeServices []string
	// MaxLineBytes bounds one line (a record, or a CloudWatch Logs payload on
	// one line); longer lines are rejected as ReasonRecordTooLarge. Default 8 MiB.
	MaxLineBytes int
}

// DefaultInternal is the internal address space used when Options.Internal is
// empty.
var DefaultInternal = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

const (
	defaultMaxLine = 8 << 20
	maxIntern      = 1 << 16 // distinct ids/accounts/regions kept per decoder
	maxHeaders     = 64      // distinct header lines cached per decoder
	maxDetailValue = 64      // bytes of an offending value quoted in Reject.Detail
)

// classifier decides direction and egress; it is shared by the decoder and
// AppendLine so that a written line decodes back to its event.
type classifier struct {
	internal []netip.Prefix
	excluded []string // upper case
}

var defaultClassifier = classifier{internal: DefaultInternal}

func (c *classifier) isInternal(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range c.internal {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *classifier) isExcluded(svc []byte) bool {
	for _, s := range c.excluded {
		if equalFoldASCII(svc, s) {
			return true
		}
	}
	return false
}

type direction uint8

const (
	dirUnknown direction = iota
	dirIngress
	dirEgress
)

// classify says whether a flow is egress and whether its remote side is the
// source (inbound flows) or the destination (outbound and internal flows).
//
// A flow-direction of ingress/egress is taken as is. Without one, a flow from
// an internal source to a non-internal destination is outbound, one between
// two internal addresses is lateral (remote = destination, not egress), and
// anything from a non-internal source is inbound. An outbound flow to an
// excluded AWS service is not egress, but its remote side stays the service.
func (c *classifier) classify(dir direction, src, dst netip.Addr, dstSvc []byte) (egress, remoteIsSrc bool) {
	out := false
	switch dir {
	case dirEgress:
		out = true
	case dirIngress:
		return false, true
	default:
		if !c.isInternal(src) {
			return false, true
		}
		out = !c.isInternal(dst)
	}
	if out && len(dstSvc) > 0 && c.isExcluded(dstSvc) {
		out = false
	}
	return out, false
}

// Decoder decodes flow-log lines. It keeps the current columns (set by the
// last header line) and per-decoder caches, so it is not safe for concurrent
// use.
type Decoder struct {
	classifier
	def      *Format // the configured format; nil with RequireHeader
	cur      *Format // columns for the next record line
	maxLine  int
	fields   [][]byte
	strs     map[string]string
	headers  map[string]*Format
	jp       fastjson.Parser
	br       *bufio.Reader
	long     []byte
	ev       ingest.Event
	recIndex int64
}

// NewDecoder validates the options and returns a Decoder.
func NewDecoder(opts Options) (*Decoder, error) {
	d := &Decoder{
		maxLine: opts.MaxLineBytes,
		strs:    make(map[string]string, 1024),
		headers: make(map[string]*Format),
	}
	if d.maxLine <= 0 {
		d.maxLine = defaultMaxLine
	}
	if !opts.RequireHeader {
		s := opts.Format
		if strings.TrimSpace(s) == "" {
			s = DefaultFormat
		}
		f, err := ParseFormat(s)
		if err != nil {
			return nil, fmt.Errorf("vpcflow: Options.Format: %w", err)
		}
		d.def = &f
	} else if strings.TrimSpace(opts.Format) != "" {
		return nil, fmt.Errorf("vpcflow: %w: Format and RequireHeader are exclusive", ErrBadOption)
	}
	d.cur = d.def
	d.internal = DefaultInternal
	if len(opts.Internal) > 0 {
		d.internal = make([]netip.Prefix, len(opts.Internal))
		for i, p := range opts.Internal {
			if !p.IsValid() {
				return nil, fmt.Errorf("vpcflow: %w: Internal[%d] is not a valid prefix", ErrBadOption, i)
			}
			d.internal[i] = p.Masked()
		}
	}
	for _, s := range opts.ExcludeServices {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "" || s == "-" {
			return nil, fmt.Errorf("vpcflow: %w: empty ExcludeServices entry", ErrBadOption)
		}
		d.excluded = append(d.excluded, s)
	}
	d.fields = make([][]byte, 0, 64)
	return d, nil
}

// Format returns the columns the next record line would be decoded with, and
// false when none are known.
func (d *Decoder) Format() (Format, bool) {
	if d.cur == nil {
		return Format{}, false
	}
	return *d.cur, true
}

// intern returns b as a string, sharing one copy per distinct value. The table
// is bounded: when full it starts over, which costs allocations, not memory.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if len(d.strs) >= maxIntern {
		clear(d.strs)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

func (d *Decoder) reject(sink ingest.Sink, reason ingest.Reason, detail string, pos ingest.Position, raw []byte) {
	sink.Reject(&ingest.Reject{Reason: reason, Detail: detail, Pos: pos, Raw: raw})
}

// quote renders an offending value for Reject.Detail, bounded in length.
func quote(b []byte) string {
	if len(b) > maxDetailValue {
		return fmt.Sprintf("%q...", b[:maxDetailValue])
	}
	return fmt.Sprintf("%q", b)
}
