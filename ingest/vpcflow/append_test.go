package vpcflow

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// TestAppendLineRoundTripExhaustive decodes every combination of addresses
// (internal, external, null, equal), pkt-* overrides, flow-direction,
// destination service and bytes, under two formats and two option sets, and
// checks each event re-encodes to a line that decodes to the same event.
func TestAppendLineRoundTripExhaustive(t *testing.T) {
	formats := []string{
		"start instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr bytes flow-direction pkt-dst-aws-service srcport dstport action",
		"start interface-id srcaddr dstaddr bytes srcport dstport",
		"interface-id start srcaddr dstaddr srcport dstport bytes flow-direction",
	}
	srcs := []string{"10.0.0.1", "8.8.8.8", "-"}
	dsts := []string{"10.0.0.2", "8.8.4.4", "-", "10.0.0.1", "8.8.8.8"}
	pkts := []string{"-", "10.0.0.3", "1.1.1.1"}
	dirs := []string{"-", "ingress", "egress"}
	svcs := []string{"-", "S3"}
	byteVals := []string{"0", "500"}
	optSets := []Options{{}, {ExcludeServices: []string{"S3"}}}
	n := 0
	for _, fs := range formats {
		f := MustParseFormat(fs)
		for _, opts := range optSets {
			opts.Format = fs
			d, err := NewDecoder(opts)
			if err != nil {
				t.Fatal(err)
			}
			s := &fmtSink{d: d}
			for _, src := range srcs {
				for _, dst := range dsts {
					for _, ps := range pkts {
						for _, pd := range pkts {
							for _, dir := range dirs {
								for _, svc := range svcs {
									for _, b := range byteVals {
										var x Fields
										x[FieldStart], x[FieldInstanceID], x[FieldInterfaceID] = "1700000000", "-", "eni-1"
										x[FieldSrcAddr], x[FieldDstAddr], x[FieldPktSrcAddr], x[FieldPktDstAddr] = src, dst, ps, pd
										x[FieldBytes], x[FieldFlowDirection], x[FieldPktDstAWSService] = b, dir, svc
										x[FieldSrcPort], x[FieldDstPort], x[FieldAction] = "1111", "2222", "ACCEPT"
										var line []byte
										for i, c := range f.cols {
											if i > 0 {
												line = append(line, ' ')
											}
											line = append(line, x[c]...)
										}
										d.DecodeLine(line, ingest.Position{}, s)
										n++
									}
								}
							}
						}
					}
				}
			}
			if len(s.events) == 0 || len(s.rejects) != 0 {
				t.Fatalf("%s: %d events, %d rejects", fs, len(s.events), len(s.rejects))
			}
			checkRoundTrip(t, opts, s, nil)
		}
	}
	t.Logf("%d lines round-tripped", n)
}

// TestAppendLineGenerator shows the generator's use: an event plus realistic
// extra columns, in a v5 format, decodes back to the event and keeps the extra
// values that do not conflict with it.
func TestAppendLineGenerator(t *testing.T) {
	f := MustParseFormat(v5Header)
	ev := ingest.Event{
		Time:        time.Unix(1700000000, 0).UTC(),
		Source:      ingest.SourceVPCFlow,
		Principal:   ingest.Principal{Key: "i-0abc", Type: ingest.PrincipalInstance, Account: "111122223333"},
		Region:      "eu-west-1",
		SourceIP:    netip.MustParseAddr("10.0.0.7"),
		EgressBytes: 123456,
		PeerAddr:    netip.MustParseAddr("203.0.113.50"),
		PeerPort:    443,
		Protocol:    6,
	}
	var x Fields
	x[FieldVPCID], x[FieldSubnetID], x[FieldInterfaceID] = "vpc-1", "subnet-1", "eni-7"
	x[FieldEnd], x[FieldPackets], x[FieldTCPFlags], x[FieldSrcPort] = "1700000060", "90", "19", "50123"
	x[FieldBytes] = "1" // conflicts with the event's egress bytes: overridden
	line := string(AppendLine(nil, f, &ev, &x))
	want := "5 vpc-1 subnet-1 i-0abc eni-7 111122223333 IPv4 10.0.0.7 203.0.113.50 50123 443 10.0.0.7 203.0.113.50 6 123456 90 1700000000 1700000060 ACCEPT 19 OK eu-west-1 - - - - - egress -"
	if line != want {
		t.Fatalf("AppendLine:\n got %s\nwant %s", line, want)
	}
	d, _ := NewDecoder(Options{Format: v5Header})
	r := &recorder{}
	d.DecodeLine([]byte(line), ingest.Position{}, r)
	if len(r.events) != 1 || r.events[0] != ev {
		t.Fatalf("decoded %v", r.outcomes)
	}
	if hdr := string(f.AppendHeader(nil)); hdr != v5Header {
		t.Errorf("header %q", hdr)
	}
	// An inbound, rejected flow, default format.
	ev.EgressBytes, ev.PeerAddr, ev.PeerPort, ev.SourceIP, ev.ErrorCode = 0, netip.MustParseAddr("198.51.100.1"), 5555, netip.MustParseAddr("198.51.100.1"), ActionReject
	ev.Principal = ingest.Principal{Key: "eni-7", Type: ingest.PrincipalNetworkInterface, Account: "1"}
	ev.Region = ""
	line = string(AppendLine(nil, MustParseFormat(DefaultFormat), &ev, nil))
	if want := "2 1 eni-7 198.51.100.1 - 5555 - 6 1 0 1700000000 1700000000 REJECT OK"; line != want {
		t.Errorf("inbound: got %s want %s", line, want)
	}
	if !strings.Contains(describeEvent(&ev), "REJECT") {
		t.Error("describeEvent lost the action")
	}
}
