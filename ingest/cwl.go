package ingest

import (
	"bytes"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
)

// CloudWatch Logs subscription payload message types.
const (
	CWLDataMessage    = "DATA_MESSAGE"
	CWLControlMessage = "CONTROL_MESSAGE"
)

// CWLEnvelope is the payload a CloudWatch Logs subscription filter delivers
// (to Kinesis, Firehose or Lambda), after gzip and base64 are removed.
type CWLEnvelope struct {
	MessageType         string        `json:"messageType"`
	Owner               string        `json:"owner"`
	LogGroup            string        `json:"logGroup"`
	LogStream           string        `json:"logStream"`
	SubscriptionFilters []string      `json:"subscriptionFilters"`
	LogEvents           []CWLLogEvent `json:"logEvents"`
}

// CWLLogEvent is one log event of a subscription payload; Message holds a
// CloudTrail record (JSON) or a flow-log line.
type CWLLogEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// ErrNotCWL says the input is not a CloudWatch Logs subscription payload.
var ErrNotCWL = errors.New("not a CloudWatch Logs subscription payload")

// LooksLikeCWL reports whether a JSON object, by its first bytes, is a
// CloudWatch Logs subscription payload. AWS writes messageType first; the
// check also accepts it anywhere in the first KiB for re-serialized payloads.
func LooksLikeCWL(b []byte) bool {
	if len(b) > 1024 {
		b = b[:1024]
	}
	return bytes.Contains(b, []byte(`"messageType"`)) && bytes.Contains(b, []byte(`"logGroup"`)) ||
		bytes.Contains(b, []byte(`"messageType"`)) && bytes.Contains(b, []byte(`"logEvents"`))
}

// ParseCWL decodes a CloudWatch Logs subscription payload (plain JSON; use
// DecompressBytes first for gzip or base64+gzip).
func ParseCWL(b []byte) (*CWLEnvelope, error) {
	var env CWLEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCWL, err)
	}
	switch env.MessageType {
	case CWLDataMessage, CWLControlMessage:
	default:
		return nil, fmt.Errorf("%w: messageType %q", ErrNotCWL, env.MessageType)
	}
	return &env, nil
}
