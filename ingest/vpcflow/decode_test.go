package vpcflow

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

const (
	v2Header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	v5Header = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
	v2Out    = "2 123456789010 eni-aaa 10.0.0.5 198.51.100.7 40000 443 6 10 5000 1700000000 1700000060 ACCEPT OK"
	v2In     = "2 123456789010 eni-aaa 198.51.100.7 10.0.0.5 443 40000 6 10 5000 1700000000 1700000060 ACCEPT OK"
	v2Lat    = "2 123456789010 eni-aaa 10.0.0.5 10.0.1.9 40000 5432 6 10 5000 1700000000 1700000060 ACCEPT OK"
	evOut    = "event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa acct=123456789010 src=10.0.0.5 peer=198.51.100.7:443 proto=6 egress=5000"
	evIn     = "event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa acct=123456789010 src=198.51.100.7 peer=198.51.100.7:443 proto=6"
	evLat    = "event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa acct=123456789010 src=10.0.0.5 peer=10.0.1.9:5432 proto=6"
)

// v5 builds a v5 record: instance, addresses (pkt-* as given), direction and
// destination service.
func v5(instance, src, dst, pktSrc, pktDst, dstSvc, dir string) string {
	return "5 vpc-1 subnet-1 " + instance + " eni-bbb 111122223333 IPv4 " + src + " " + dst +
		" 5555 443 " + pktSrc + " " + pktDst + " 6 9000 7 1700000000 1700000060 ACCEPT 19 OK eu-west-1 euw1-az1 - - - " +
		dstSvc + " " + dir + " 1"
}

func TestDecodeLine(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		lines []string
		want  []string
	}{
		{"default format without header", Options{}, []string{v2Out, v2In, v2Lat}, []string{evOut, evIn, evLat}},
		{"header then records", Options{}, []string{v2Header, v2Out}, []string{"skip flow_header", evOut}},
		{"braced configured format", Options{Format: "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"},
			[]string{v2Out}, []string{evOut}},
		{"columns reordered by configured format", Options{Format: "start bytes dstaddr srcaddr interface-id account-id dstport protocol"},
			[]string{"1700000000 5000 198.51.100.7 10.0.0.5 eni-aaa 123456789010 443 6"},
			[]string{"event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa acct=123456789010 src=10.0.0.5 peer=198.51.100.7:443 proto=6 egress=5000"}},
		{"mid-stream header changes the format", Options{}, []string{
			v2Out,
			"start interface-id srcaddr dstaddr bytes",
			"1700000000 eni-ccc 10.1.1.1 203.0.113.9 77",
			v2Header,
			v2In,
		}, []string{evOut, "skip flow_header",
			"event 2023-11-14T22:13:20Z NetworkInterface:eni-ccc src=10.1.1.1 peer=203.0.113.9:0 proto=0 egress=77",
			"skip flow_header", evIn}},
		{"v3 tcp-flags format with instance", Options{}, []string{
			"version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
			"3 vpc-1 subnet-1 i-0abc eni-1 123456789010 IPv4 10.0.0.62 52.213.180.42 5001 43418 10.0.0.62 52.213.180.42 6 632 12 1566848875 1566848933 ACCEPT 18 OK",
		}, []string{"skip flow_header", "event 2019-08-26T19:47:55Z Instance:i-0abc acct=123456789010 src=10.0.0.62 peer=52.213.180.42:43418 proto=6 egress=632"}},
		{"v4 region", Options{Format: "version account-id instance-id interface-id srcaddr dstaddr bytes start region az-id sublocation-type sublocation-id"},
			[]string{"4 111 - eni-1 10.0.0.1 8.8.8.8 10 1700000000 us-east-1 use1-az1 outpost op-1"},
			[]string{"event 2023-11-14T22:13:20Z NetworkInterface:eni-1 acct=111 src=10.0.0.1 peer=8.8.8.8:0 proto=0 egress=10 region=us-east-1"}},
		{"v5 flow-direction egress beats address inference", Options{Format: v5Header}, []string{
			v5("i-1", "10.0.0.1", "10.0.0.2", "-", "-", "-", "egress"),
		}, []string{"event 2023-11-14T22:13:20Z Instance:i-1 acct=111122223333 src=10.0.0.1 peer=10.0.0.2:443 proto=6 egress=9000 region=eu-west-1"}},
		{"v5 flow-direction ingress beats address inference", Options{Format: v5Header}, []string{
			v5("i-1", "10.0.0.1", "8.8.8.8", "-", "-", "-", "ingress"),
		}, []string{"event 2023-11-14T22:13:20Z Instance:i-1 acct=111122223333 src=10.0.0.1 peer=10.0.0.1:5555 proto=6 region=eu-west-1"}},
		{"v5 flow-direction null falls back to addresses", Options{Format: v5Header}, []string{
			v5("i-1", "10.0.0.1", "8.8.8.8", "-", "-", "-", "-"),
		}, []string{"event 2023-11-14T22:13:20Z Instance:i-1 acct=111122223333 src=10.0.0.1 peer=8.8.8.8:443 proto=6 egress=9000 region=eu-west-1"}},
		{"pkt addresses: NAT gateway forwarding to the internet", Options{Format: v5Header}, []string{
			v5("-", "10.0.0.220", "10.0.1.5", "10.0.1.5", "203.0.113.5", "-", "-"),
		}, []string{"event 2023-11-14T22:13:20Z NetworkInterface:eni-bbb acct=111122223333 src=10.0.1.5 peer=203.0.113.5:443 proto=6 egress=9000 region=eu-west-1"}},
		{"pkt addresses null: srcaddr/dstaddr used", Options{Format: v5Header}, []string{
			v5("-", "10.0.0.220", "203.0.113.5", "-", "-", "-", "-"),
		}, []string{"event 2023-11-14T22:13:20Z NetworkInterface:eni-bbb acct=111122223333 src=10.0.0.220 peer=203.0.113.5:443 proto=6 egress=9000 region=eu-west-1"}},
		{"excluded service is not egress", Options{Format: v5Header, ExcludeServices: []string{"s3"}}, []string{
			v5("i-1", "10.0.0.1", "52.95.128.179", "-", "-", "S3", "egress"),
			v5("i-1", "10.0.0.1", "52.95.128.179", "-", "-", "S3", "-"),
			v5("i-1", "10.0.0.1", "52.95.128.179", "-", "-", "DYNAMODB", "egress"),
		}, []string{
			"event 2023-11-14T22:13:20Z Instance:i-1 acct=111122223333 src=10.0.0.1 peer=52.95.128.179:443 proto=6 region=eu-west-1",
			"event 2023-11-14T22:13:20Z Instance:i-1 acct=111122223333 src=10.0.0.1 peer=52.95.128.179:443 proto=6 region=eu-west-1",
			"event 2023-11-14T22:13:20Z Instance:i-1 acct=111122223333 src=10.0.0.1 peer=52.95.128.179:443 proto=6 egress=9000 region=eu-west-1",
		}},
		{"custom internal space", Options{Internal: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, []string{v2Out, v2In},
			[]string{
				"event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa acct=123456789010 src=10.0.0.5 peer=10.0.0.5:40000 proto=6",
				"event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa acct=123456789010 src=198.51.100.7 peer=10.0.0.5:40000 proto=6 egress=5000",
			}},
		{"ipv6", Options{Internal: []netip.Prefix{netip.MustParsePrefix("2001:db8:1234:a100::/56")}}, []string{
			"2 1 eni-6 2001:db8:1234:a100::5 2600:1f18::1 34892 443 6 54 8855 1477913708 1477913820 ACCEPT OK",
			"2 1 eni-6 2600:1f18::1 2001:db8:1234:a100::5 443 34892 6 54 8855 1477913708 1477913820 ACCEPT OK",
			"2 1 eni-6 fd00::1 fd00::2 1 2 17 54 8855 1477913708 1477913820 ACCEPT OK",
		}, []string{
			"event 2016-10-31T11:35:08Z NetworkInterface:eni-6 acct=1 src=2001:db8:1234:a100::5 peer=[2600:1f18::1]:443 proto=6 egress=8855",
			"event 2016-10-31T11:35:08Z NetworkInterface:eni-6 acct=1 src=2600:1f18::1 peer=[2600:1f18::1]:443 proto=6",
			// fc00::/7 is replaced, not extended, by a custom Internal.
			"event 2016-10-31T11:35:08Z NetworkInterface:eni-6 acct=1 src=fd00::1 peer=[fd00::1]:1 proto=17",
		}},
		{"nulls", Options{}, []string{
			"2 - eni-aaa 10.0.0.5 - - - - - - 1700000000 - - -",
			"2 unknown eni-aaa - - - - - - - 1700000000 - ACCEPT OK",
		}, []string{
			"event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa src=10.0.0.5 peer=-:0 proto=0",
			"event 2023-11-14T22:13:20Z NetworkInterface:eni-aaa src=- peer=-:0 proto=0",
		}},
		{"NODATA and SKIPDATA", Options{}, []string{
			"2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA",
			"2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - SKIPDATA",
		}, []string{"skip flow_nodata", "skip flow_skipdata"}},
		{"REJECT sets ErrorCode", Options{}, []string{strings.Replace(v2Out, "ACCEPT", "REJECT", 1)},
			[]string{strings.Replace(evOut, " egress=5000", "", 1) + " REJECT"}}, // a blocked flow carries nothing out
		{"blank lines", Options{}, []string{"", "   \r\n"}, []string{"skip blank", "skip blank"}},
		{"JSON message wrapper", Options{}, []string{
			`{"message":"` + v2Out + `"}`,
			`{"id":"1","timestamp":1,"message":" ` + v2In + `\n"}`,
			`{"message":"{\"eventVersion\":\"1.08\"}"}`,
			`{"message":7}`,
			`{"log":{"srcAddr":"1.1.1.1"}}`,
			`{"message":`,
			`[1,2]`,
		}, []string{evOut, evIn,
			"reject unknown_format: message is JSON, not a flow-log line",
			`reject unknown_format: JSON "message" is not a string`,
			`reject unknown_format: JSON object without a "message" string: not a flow-log line (normalised JSON flow records are not supported)`,
			"reject malformed_json: cannot parse JSON: cannot parse object: cannot parse object value: cannot parse empty string; unparsed tail: \"\"",
			"reject malformed_json: JSON array, not an object",
		}},
		{"CloudWatch Logs payload, concatenated", Options{}, []string{
			`{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[]}` +
				`{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"eni-aaa-all","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"` + v2Out + `"},{"id":"2","timestamp":1,"message":"` + v2In + `"}]}`,
		}, []string{"skip cwl_control", evOut, evIn}},
		{"bad lines", Options{}, []string{
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT OK extra",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 12x 1700000000 1700000060 ACCEPT OK",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 70000 6 1 1 1700000000 1700000060 ACCEPT OK",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 256 1 1 1700000000 1700000060 ACCEPT OK",
			"2 1 eni-1 10.0.0.300 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT OK",
			"2 1 eni-1 10.0.0.1 fe80::1%eth0 1 2 6 1 1 1700000000 1700000060 ACCEPT OK",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 x 1 1700000000 1700000060 ACCEPT OK",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ALLOW OK",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT FINE",
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 -5 1700000060 ACCEPT OK",
		}, []string{
			"reject bad_flow_line: 13 fields, format has 14",
			"reject bad_flow_line: 15 fields, format has 14",
			`reject bad_flow_line: bytes: invalid value "12x"`,
			`reject bad_flow_line: dstport: invalid value "70000"`,
			`reject bad_flow_line: protocol: invalid value "256"`,
			`reject bad_flow_line: srcaddr: invalid value "10.0.0.300"`,
			`reject bad_flow_line: dstaddr: invalid value "fe80::1%eth0"`,
			`reject bad_flow_line: packets: invalid value "x"`,
			`reject bad_flow_line: action: invalid value "ALLOW"`,
			`reject bad_flow_line: log-status: invalid value "FINE"`,
			`reject bad_flow_line: start: invalid value "-5"`,
		}},
		{"no time, no principal", Options{}, []string{
			"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 - 1700000060 ACCEPT OK",
			"2 1 - 10.0.0.1 10.0.0.2 1 2 6 1 1 1700000000 1700000060 ACCEPT OK",
			"version resource-type account-id tgw-id tgw-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status",
			"6 TransitGatewayAttachment 1 tgw-1 tgw-attach-1 10.0.0.1 10.1.0.1 1 2 6 1 1 1700000000 1700000060 OK",
		}, []string{
			"reject no_event_time: record has no start time",
			"reject no_principal: record has no instance-id or interface-id",
			"skip flow_header",
			"reject no_principal: transit-gateway record: no instance-id or interface-id to attribute it to",
		}},
		{"NAT gateway 6-field format has no time", Options{}, []string{
			"instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr",
			"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
		}, []string{"skip flow_header", "reject no_event_time: record has no start time"}},
		{"unknown header columns are ignored", Options{}, []string{
			"version interface-id start srcaddr dstaddr bytes encryption-status some-future-field",
			"9 eni-1 1700000000 10.0.0.1 9.9.9.9 42 1 whatever",
		}, []string{"skip flow_header", "event 2023-11-14T22:13:20Z NetworkInterface:eni-1 src=10.0.0.1 peer=9.9.9.9:0 proto=0 egress=42"}},
		{"duplicate header field: no columns until the next header", Options{}, []string{
			"version interface-id start start",
			"2 eni-1 1700000000 1700000000",
			v2Header,
			v2Out,
		}, []string{
			"reject bad_flow_format: header line names a field twice; records up to the next header have no columns",
			"reject no_flow_format: no header line and no configured format",
			"skip flow_header", evOut,
		}},
		{"RequireHeader", Options{RequireHeader: true}, []string{v2Out, v2Header, v2Out},
			[]string{"reject no_flow_format: no header line and no configured format", "skip flow_header", evOut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := &recorder{}
			for i, l := range tt.lines {
				d.DecodeLine([]byte(l), ingest.Position{Name: "t", Partition: -1, Line: int64(i + 1)}, r)
			}
			if strings.Join(r.outcomes, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(r.outcomes, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, rj := range r.rejects {
				if len(rj.Raw) == 0 {
					t.Errorf("reject %s without Raw", rj.Reason)
				}
			}
		})
	}
}

func TestNewDecoderErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr error
		wantMsg string
	}{
		{"unknown field named", Options{Format: "version account-id src-addr"}, ErrUnknownField, `"src-addr"`},
		{"unknown braced field named", Options{Format: "${version} ${bogus}"}, ErrUnknownField, `"bogus"`},
		{"duplicate", Options{Format: "version version"}, ErrDuplicateField, `"version"`},
		{"invalid prefix", Options{Internal: []netip.Prefix{{}}}, ErrBadOption, "Internal[0]"},
		{"empty service", Options{ExcludeServices: []string{" "}}, ErrBadOption, "ExcludeServices"},
		{"header and format", Options{RequireHeader: true, Format: "version"}, ErrBadOption, "exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(tt.opts)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v containing %s", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	for _, ok := range []Options{{}, {Format: "  "}, {Format: "${start} ${interface-id}"}, {RequireHeader: true}} {
		if _, err := NewDecoder(ok); err != nil {
			t.Errorf("NewDecoder(%+v): %v", ok, err)
		}
	}
}

func TestFieldTable(t *testing.T) {
	seen := map[string]bool{}
	for f := FieldUnknown + 1; f < NumFields; f++ {
		n := f.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("field %d has bad or duplicate name %q", f, n)
		}
		seen[n] = true
		if g, ok := FieldByName("${" + n + "}"); !ok || g != f {
			t.Errorf("FieldByName(${%s}) = %v, %v", n, g, ok)
		}
		if v := f.Version(); v < 2 || v > 8 {
			t.Errorf("%s: version %d", n, v)
		}
	}
	if len(seen) != 58 {
		t.Errorf("%d fields, want 58 (v2-v8: 40, transit gateway: 18)", len(seen))
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		header  string
		version int
	}{
		{DefaultFormat, DefaultFormat, 2},
		{"${version} ${vpc-id}  ${srcaddr}", "version vpc-id srcaddr", 3},
		{v5Header, v5Header, 5},
		{"srcaddr reject-reason ecs-task-id", "srcaddr reject-reason ecs-task-id", 8},
		{"version tgw-id packets-lost-no-route", "version tgw-id packets-lost-no-route", 6},
	}
	for _, tt := range tests {
		f, err := ParseFormat(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if got := string(f.AppendHeader(nil)); got != tt.header || f.String() != tt.header {
			t.Errorf("%q: header %q, want %q", tt.in, got, tt.header)
		}
		if f.Version() != tt.version {
			t.Errorf("%q: version %d, want %d", tt.in, f.Version(), tt.version)
		}
	}
	if _, err := ParseFormat(" "); !errors.Is(err, ErrEmptyFormat) {
		t.Errorf("empty format: %v", err)
	}
	f := MustParseFormat("start srcaddr")
	if !f.Has(FieldStart) || f.Has(FieldDstAddr) || f.Len() != 2 || f.Columns()[1] != FieldSrcAddr {
		t.Errorf("Has/Len/Columns wrong for %v", f)
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"header", v2Header + "\n" + v2Out, true},
		{"record", v2Out + "\n", true},
		{"record cut short", v2Out[:40], true},
		{"NAT header", "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr\n", true},
		{"NAT record", "- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5", true},
		{"blank first", "\n\n" + v2Out, true},
		{"JSON wrapper", `{"message":"` + v2Out + `"}`, true},
		{"CWL payload", `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"` + v2Out, true},
		{"CloudTrail file", `{"Records":[{"eventVersion":"1.08","userIdentity":{}}]}`, false},
		{"CloudTrail via CWL", `{"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":1,"message":"{\"eventVersion\":\"1.08\"}"}]}`, false},
		{"Panther JSON", `{"rule_id": "x", "log": {"dstPort": 22, "dstAddr": "10.0.0.1"}}`, false},
		{"prose", "hello world this is text", false},
		{"empty", "", false},
		{"csv", "a,b,c,d\n1,2,3,4", false},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: Sniff = %v, want %v", tt.name, got, tt.want)
		}
	}
}
