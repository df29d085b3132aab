package cloudtrail

import (
	"bytes"

	"github.com/trailwatch/trailwatch/ingest"
)

// sniffWindow bounds how much of head Sniff searches.
const sniffWindow = 64 << 10

// Keys that appear, unescaped, near the start of every CloudTrail shape: log
// files (Records), records and EventBridge envelopes (record keys inside
// detail), lookup-events output (CloudTrailEvent) and digest files.
var sniffKeys = [][]byte{
	[]byte(`"Records"`), []byte(`"eventVersion"`), []byte(`"eventSource"`), []byte(`"eventName"`),
	[]byte(`"eventTime"`), []byte(`"userIdentity"`), []byte(`"CloudTrailEvent"`), []byte(`"digestStartTime"`),
}

// The same keys escaped inside a CloudWatch Logs message string.
var sniffEscapedKeys = [][]byte{
	[]byte(`\"eventVersion\"`), []byte(`\"eventSource\"`), []byte(`\"eventName\"`),
	[]byte(`\"eventTime\"`), []byte(`\"userIdentity\"`),
}

// Sniff reports whether head, the first bytes of an input (already
// decompressed), looks like CloudTrail JSON in any shape Decode accepts. A
// dispatcher uses it to choose between this decoder and the VPC flow log one:
// flow logs are text lines, or CloudWatch Logs payloads whose messages are
// text, never JSON objects with CloudTrail keys. A CloudWatch Logs control
// message counts as CloudTrail (Decode skips it). head may be cut anywhere.
func Sniff(head []byte) bool {
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' && b[0] != '[' {
		return false
	}
	if len(b) > sniffWindow {
		b = b[:sniffWindow]
	}
	if ingest.LooksLikeCWL(b) {
		if bytes.Contains(b, []byte(ingest.CWLControlMessage)) {
			return true
		}
		for _, k := range sniffEscapedKeys {
			if bytes.Contains(b, k) {
				return true
			}
		}
		return false
	}
	for _, k := range sniffKeys {
		if bytes.Contains(b, k) {
			return true
		}
	}
	return false
}
