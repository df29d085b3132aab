package eventcodec

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

func seedRecords() [][]byte {
	ev := typicalEvent()
	full := ev
	full.PeerAddr = netip.MustParseAddr("fe80::1%eth0")
	full.SourceIP = netip.MustParseAddr("2001:db8::1")
	full.Time = time.Date(9999, 1, 1, 0, 0, 0, 5, time.UTC)
	return [][]byte{Append(nil, &ev), Append(nil, &full), Append(nil, &ingest.Event{}), {}, {2}}
}

// FuzzDecode checks that Decode never panics, fails only with its sentinel
// errors, and that whatever it accepts re-encodes to a record that decodes to
// the same Event (so a relay through stage 1 twice changes nothing).
func FuzzDecode(f *testing.F) {
	for _, b := range seedRecords() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev ingest.Event
		err := Decode(b, &ev)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Decode error matches no sentinel: %v", err)
			}
			return
		}
		var in Interner
		var ev2 ingest.Event
		if err := DecodeInterned(b, &ev2, in.Intern); err != nil || !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("DecodeInterned disagrees with Decode: %v\n%+v\n%+v", err, ev2, ev)
		}
		b2 := Append(nil, &ev)
		var got ingest.Event
		if err := Decode(b2, &got); err != nil {
			t.Fatalf("re-encoded record does not decode: %v\nin  %x\nout %x", err, b, b2)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("re-encoded record decodes differently\n got %+v\nwant %+v", got, ev)
		}
	})
}

// FuzzRoundTrip checks that an Event built from arbitrary field values
// round-trips exactly (times are compared in UTC: the location is not
// encoded).
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(1710408413), int64(0), uint8(1), uint8(3), "arn:aws:iam::1:role/r", "1", "s", "ASIA", "s3:GetObject", "", "eu-west-1",
		[]byte{203, 0, 113, 1}, "id", uint64(100), []byte{}, "", uint16(443), uint8(6), "topic", int32(7), int64(1), int64(0), int64(2), false)
	f.Add(int64(-62135596800), int64(0), uint8(0), uint8(0), "", "", "", "", "", "", "",
		[]byte{}, "", uint64(0), make([]byte, 16), "eth0", uint16(0), uint8(0), "", int32(-1), int64(0), int64(0), int64(0), true)
	f.Fuzz(func(t *testing.T, sec, nsec int64, src, ptype uint8, key, account, subKey, akid, action, errCode, region string,
		srcIP []byte, eventID string, egress uint64, peer []byte, zone string, port uint16, proto uint8,
		posName string, part int32, off, line, idx int64, zeroTime bool) {
		ev := ingest.Event{
			Source: ingest.Source(src),
			Principal: ingest.Principal{
				Key: key, Type: ingest.PrincipalType(ptype), Account: account, SubKey: subKey, AccessKeyID: akid,
			},
			Action: action, ErrorCode: errCode, Region: region,
			SourceIP: addrFrom(srcIP, ""), EventID: eventID, EgressBytes: egress,
			PeerAddr: addrFrom(peer, zone), PeerPort: port, Protocol: proto,
			Pos: ingest.Position{Name: posName, Partition: part, Offset: off, Line: line, Index: idx},
		}
		if !zeroTime {
			ev.Time = time.Unix(sec, nsec).UTC()
		}
		b := Append(nil, &ev)
		var got ingest.Event
		if err := Decode(b, &got); err != nil {
			t.Fatalf("Decode(Append(ev)): %v\n%x", err, b)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("round trip mismatch\n got %+v\nwant %+v", got, ev)
		}
	})
}

// addrFrom makes an IPv4 address from 4 bytes, an IPv6 one (with zone) from
// 16, and the zero Addr otherwise.
func addrFrom(b []byte, zone string) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b)).WithZone(zone)
	}
	return netip.Addr{}
}
