package cloudtrail

import (
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// AppendRecord appends a minimal, valid CloudTrail record (one JSON object)
// that DecodeRecord turns back into ev, all fields but Pos. It inverts
// principal resolution: the userIdentity it writes is the smallest one that
// resolves to ev.Principal. It writes API-call records; an Insights event
// (no principal key) comes back as a record without userIdentity.
func AppendRecord(dst []byte, ev *ingest.Event) []byte {
	src, name := splitAction(ev.Action)
	dst = append(dst, `{"eventVersion":"1.08","eventTime":"`...)
	dst = ev.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendField(dst, "eventSource", src)
	dst = appendField(dst, "eventName", name)
	dst = appendField(dst, "awsRegion", ev.Region)
	if ev.SourceIP.IsValid() {
		dst = appendField(dst, "sourceIPAddress", ev.SourceIP.String())
	}
	dst = appendField(dst, "errorCode", ev.ErrorCode)
	dst = appendField(dst, "eventID", ev.EventID)
	dst = appendField(dst, "eventType", "AwsApiCall")

	p := &ev.Principal
	var aedUser string
	if p.Key != "" {
		dst = append(dst, `,"userIdentity":{"type":`...)
		dst = appendString(dst, p.Type.String())
		if p.AccessKeyID != "" {
			dst = appendField(dst, "accessKeyId", p.AccessKeyID)
		}
		switch p.Type {
		case ingest.PrincipalRoot:
			dst = appendField(dst, "accountId", p.Key)
		case ingest.PrincipalIAMUser:
			dst = appendField(dst, "arn", p.Key)
			dst = appendField(dst, "accountId", p.Account)
		case ingest.PrincipalAssumedRole, ingest.PrincipalFederatedUser:
			dst = appendField(dst, "accountId", p.Account)
			sso := isSSOIssuer([]byte(p.Key))
			if sso && p.SubKey != "" {
				dst = appendField(dst, "principalId", "AROAEXAMPLE:"+p.SubKey)
			}
			dst = append(dst, `,"sessionContext":{"sessionIssuer":{"type":"Role","arn":`...)
			dst = appendString(dst, p.Key)
			dst = append(dst, '}')
			if !sso && p.SubKey != "" {
				dst = appendField(dst, "sourceIdentity", p.SubKey)
			}
			dst = append(dst, '}')
		case ingest.PrincipalAWSService:
			dst = appendField(dst, "invokedBy", p.Key)
		case ingest.PrincipalAWSAccount:
			dst = appendField(dst, "accountId", p.Key)
			dst = appendField(dst, "principalId", p.SubKey)
		case ingest.PrincipalIdentityCenterUser:
			dst = appendField(dst, "accountId", p.Account)
			aedUser = p.Key
		default:
			dst = appendField(dst, "principalId", p.Key)
			dst = appendField(dst, "accountId", p.Account)
		}
		dst = append(dst, '}')
		if p.Type == ingest.PrincipalAWSService {
			dst = appendField(dst, "recipientAccountId", p.Account)
		}
	}
	if ev.EgressBytes > 0 || aedUser != "" {
		dst = append(dst, `,"additionalEventData":{`...)
		if aedUser != "" {
			dst = append(dst, `"UserName":`...)
			dst = appendString(dst, aedUser)
			if ev.EgressBytes > 0 {
				dst = append(dst, ',')
			}
		}
		if ev.EgressBytes > 0 {
			dst = append(dst, `"bytesTransferredOut":`...)
			dst = strconv.AppendUint(dst, ev.EgressBytes, 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// splitAction splits eventSource:eventName at the first ':' that leaves both
// sides non-empty, so that joining them again gives the same Action.
func splitAction(a string) (src, name string) {
	for i := 1; i < len(a)-1; i++ {
		if a[i] == ':' {
			return a[:i], a[i+1:]
		}
	}
	return a, ""
}

// appendField appends ,"key":"value" when value is non-empty.
func appendField(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, value)
}

// appendString appends s as a JSON string. Only '"', '\\' and control
// characters are escaped; other bytes pass through, so the decoder reads back
// exactly s.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for {
		i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' })
		if i < 0 {
			break
		}
		dst = append(dst, s[:i]...)
		switch c := s[i]; c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}
