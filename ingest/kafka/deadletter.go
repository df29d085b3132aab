package kafka

import (
	"strconv"

	kafka "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/ingest"
)

// Dead-letter header names. The value of a dead letter is the original
// message value, byte for byte, so it can be re-published after a fix.
const (
	HeaderReason          = "reason"
	HeaderDetail          = "detail"
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
	HeaderSourceIndex     = "source-index" // the record's index within the message, when not 0
)

// maxDetail bounds the detail header: it is built from the parse error, and
// a header is no place for a copy of a large record.
const maxDetail = 1024

// DeadLetter builds the dead-letter message for a record of src that could
// not be used. value is the record's own bytes when the decoder isolated it
// (one record of a Records array, one flow line), else nil for the whole
// message value; either way it is what was received, byte for byte, and can
// be re-published to an input topic after a fix. Key is the source message's
// key.
func DeadLetter(topic string, src *kafka.Message, reason ingest.Reason, detail string, index int64, value []byte) kafka.Message {
	if value == nil {
		value = src.Value
	}
	if len(detail) > maxDetail {
		detail = detail[:maxDetail]
	}
	h := []kafka.Header{
		{Key: HeaderReason, Value: []byte(reason)},
		{Key: HeaderDetail, Value: []byte(detail)},
		{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
	}
	if index > 0 {
		h = append(h, kafka.Header{Key: HeaderSourceIndex, Value: strconv.AppendInt(nil, index, 10)})
	}
	return kafka.Message{Topic: topic, Key: src.Key, Value: value, Headers: h}
}

// Header returns the value of the first header named key, or "".
func Header(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
