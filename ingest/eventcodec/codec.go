package eventcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// Version is the format version Append writes.
const Version = 1

// Errors returned by Decode. Both are wrapped with detail; match them with
// errors.Is.
var (
	// ErrVersion means the record was written in a format version this
	// release does not know (a newer writer); the record itself may be fine.
	ErrVersion = errors.New("eventcodec: unknown format version")
	// ErrCorrupt means the record is truncated or malformed.
	ErrCorrupt = errors.New("eventcodec: corrupt record")
)

const (
	timeZero  = 0
	timeNanos = 1
	timeSecs  = 2

	addrNone   = 0
	addrV4     = 4
	addrV6     = 16
	addrV6Zone = 17

	// Seconds strictly inside this range have a representable UnixNano.
	minNanoSec = -9223372036
	maxNanoSec = 9223372036
)

// Append appends the encoding of ev to dst and returns the extended slice. It
// does not allocate when dst has room.
func Append(dst []byte, ev *ingest.Event) []byte {
	dst = append(dst, Version)
	dst = appendTime(dst, ev.Time)
	dst = append(dst, byte(ev.Source), byte(ev.Principal.Type))
	dst = appendString(dst, ev.Principal.Key)
	dst = appendString(dst, ev.Principal.Account)
	dst = appendString(dst, ev.Principal.SubKey)
	dst = appendString(dst, ev.Principal.AccessKeyID)
	dst = appendString(dst, ev.Action)
	dst = appendString(dst, ev.ErrorCode)
	dst = appendString(dst, ev.Region)
	dst = appendAddr(dst, ev.SourceIP)
	dst = appendString(dst, ev.EventID)
	dst = binary.AppendUvarint(dst, ev.EgressBytes)
	dst = appendAddr(dst, ev.PeerAddr)
	dst = binary.AppendUvarint(dst, uint64(ev.PeerPort))
	dst = append(dst, ev.Protocol)
	dst = appendString(dst, ev.Pos.Name)
	dst = binary.AppendVarint(dst, int64(ev.Pos.Partition))
	dst = binary.AppendVarint(dst, ev.Pos.Offset)
	dst = binary.AppendVarint(dst, ev.Pos.Line)
	dst = binary.AppendVarint(dst, ev.Pos.Index)
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, timeZero)
	}
	sec := t.Unix()
	if sec > minNanoSec && sec < maxNanoSec {
		dst = append(dst, timeNanos)
		return binary.AppendVarint(dst, t.UnixNano())
	}
	dst = append(dst, timeSecs)
	dst = binary.AppendVarint(dst, sec)
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(dst, addrNone)
	case a.Is4():
		b := a.As4()
		return append(append(dst, addrV4), b[:]...)
	case a.Zone() != "":
		b := a.As16()
		dst = append(append(dst, addrV6Zone), b[:]...)
		return appendString(dst, a.Zone())
	default:
		b := a.As16()
		return append(append(dst, addrV6), b[:]...)
	}
}

// Decode decodes one record into ev, overwriting every field. The strings in
// ev are copies and do not alias b. On error ev is left in an unspecified
// state. Errors wrap ErrVersion or ErrCorrupt.
func Decode(b []byte, ev *ingest.Event) error {
	return DecodeInterned(b, ev, nil)
}

// DecodeInterned is Decode with string interning for the fields that repeat
// across events: Principal.Key, Principal.Account, Action, ErrorCode, Region
// and Pos.Name. For each of them intern is called with bytes that alias b and
// are only valid during the call; it must return a string that does not alias
// them (an [Interner] does this). The high-cardinality fields (SubKey,
// AccessKeyID, EventID, the zone) are always copied. A nil intern copies every
// string, like Decode.
func DecodeInterned(b []byte, ev *ingest.Event, intern func([]byte) string) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	if b[0] != Version {
		return fmt.Errorf("%w: %d (this release reads %d)", ErrVersion, b[0], Version)
	}
	d := decoder{b: b, off: 1, intern: intern}
	ev.Time = d.time()
	ev.Source = ingest.Source(d.byte("source"))
	ev.Principal.Type = ingest.PrincipalType(d.byte("principal type"))
	ev.Principal.Key = d.string("principal key", true)
	ev.Principal.Account = d.string("account", true)
	ev.Principal.SubKey = d.string("subkey", false)
	ev.Principal.AccessKeyID = d.string("access key id", false)
	ev.Action = d.string("action", true)
	ev.ErrorCode = d.string("error code", true)
	ev.Region = d.string("region", true)
	ev.SourceIP = d.addr("source ip")
	ev.EventID = d.string("event id", false)
	ev.EgressBytes = d.uvarint("egress bytes")
	ev.PeerAddr = d.addr("peer addr")
	port := d.uvarint("peer port")
	if port > 0xffff && d.err == nil {
		d.fail("peer port", "%d out of range", port)
	}
	ev.PeerPort = uint16(port)
	ev.Protocol = d.byte("protocol")
	ev.Pos.Name = d.string("position name", true)
	part := d.varint("partition")
	if (part < -1<<31 || part > 1<<31-1) && d.err == nil {
		d.fail("partition", "%d out of range", part)
	}
	ev.Pos.Partition = int32(part)
	ev.Pos.Offset = d.varint("offset")
	ev.Pos.Line = d.varint("line")
	ev.Pos.Index = d.varint("index")
	if d.err == nil && d.off != len(b) {
		d.fail("record", "%d trailing bytes", len(b)-d.off)
	}
	return d.err
}

// decoder reads fields in order; after the first error every read returns a
// zero value, so Decode checks d.err once at the end.
type decoder struct {
	b      []byte
	off    int
	err    error
	intern func([]byte) string
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d: %s", ErrCorrupt, field, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail(field, "truncated")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		if n == 0 {
			d.fail(field, "truncated varint")
		} else {
			d.fail(field, "varint overflows 64 bits")
		}
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(field string) int64 {
	u := d.uvarint(field) // binary.Varint is zigzag over a uvarint
	return int64(u>>1) ^ -int64(u&1)
}

// bytes returns the next n bytes, aliasing d.b.
func (d *decoder) bytes(field string, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail(field, "length %d exceeds the %d bytes left", n, len(d.b)-d.off)
		return nil
	}
	p := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return p
}

func (d *decoder) string(field string, internable bool) string {
	p := d.bytes(field, d.uvarint(field))
	if len(p) == 0 {
		return ""
	}
	if internable && d.intern != nil {
		return d.intern(p)
	}
	return string(p)
}

func (d *decoder) time() time.Time {
	switch kind := d.byte("time kind"); {
	case d.err != nil:
		return time.Time{}
	case kind == timeZero:
		return time.Time{}
	case kind == timeNanos:
		return time.Unix(0, d.varint("time")).UTC()
	case kind == timeSecs:
		sec := d.varint("time seconds")
		nsec := d.uvarint("time nanoseconds")
		if nsec >= 1e9 && d.err == nil {
			d.fail("time nanoseconds", "%d out of range", nsec)
		}
		return time.Unix(sec, int64(nsec)).UTC()
	default:
		d.fail("time kind", "unknown kind %d", kind)
		return time.Time{}
	}
}

func (d *decoder) addr(field string) netip.Addr {
	switch tag := d.byte(field); {
	case d.err != nil:
		return netip.Addr{}
	case tag == addrNone:
		return netip.Addr{}
	case tag == addrV4:
		p := d.bytes(field, 4)
		if p == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom4([4]byte(p))
	case tag == addrV6 || tag == addrV6Zone:
		p := d.bytes(field, 16)
		if p == nil {
			return netip.Addr{}
		}
		a := netip.AddrFrom16([16]byte(p))
		if tag == addrV6Zone {
			zone := d.string(field+" zone", false)
			if zone == "" && d.err == nil {
				d.fail(field, "empty zone")
			}
			a = a.WithZone(zone)
		}
		return a
	default:
		d.fail(field, "unknown address tag %d", tag)
		return netip.Addr{}
	}
}
