package replay

import (
	"context"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/ingest/source"
)

// kafkaInput is one kafka:// input: a time range of a topic. It is read
// after the file and S3 inputs, in the order given, and its messages reach
// detection through the same consumer as file chunks, so summary, dead
// letters and --strict mean the same for both.
type kafkaInput struct {
	url string
	rng kafka.Range
}

// splitInputs takes the kafka:// inputs out of inputs, parsing each so that a
// bad URL fails the replay before anything is read.
func splitInputs(inputs []string) (rest []string, ks []kafkaInput, err error) {
	for _, in := range inputs {
		if !kafka.IsURL(in) {
			rest = append(rest, in)
			continue
		}
		r, err := kafka.ParseURL(in)
		if err != nil {
			return nil, nil, err
		}
		ks = append(ks, kafkaInput{url: in, rng: r})
	}
	return rest, ks, nil
}

// readKafka decodes every message of in's range, in ReadRange's order
// (message time, then partition, then offset), into chunks of at most
// chunkEvents events handed to consume. Positions are topic/partition@offset.
func readKafka(ctx context.Context, unit int, in kafkaInput, conn *kafka.Conn, dec *decode.Decoder, chunkEvents int, consume func(*source.Chunk) error) error {
	s := &msgSink{c: &source.Chunk{Unit: unit, Name: in.url}, max: chunkEvents, consume: consume}
	err := kafka.ReadRange(ctx, in.rng, conn, func(m *kafkago.Message) error {
		pos := ingest.Position{Name: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
		s.c.Bytes += int64(len(m.Value))
		if err := dec.DecodeMessage(m.Value, pos, s); err != nil {
			// A message that stopped its decoder is one rejected record,
			// kept whole with its position like any other.
			s.Reject(&ingest.Reject{Reason: decode.ReasonOf(err), Detail: err.Error(), Pos: pos, Raw: m.Value})
		}
		return s.flush(false)
	})
	if err != nil {
		return fmt.Errorf("replay %s: %w", in.url, err)
	}
	return s.flush(true)
}

// msgSink collects decoder output into a chunk and hands it on when it holds
// max events (or at the end). consume does not keep the chunk, so it is reused.
type msgSink struct {
	c       *source.Chunk
	max     int
	consume func(*source.Chunk) error
	err     error
}

var _ ingest.Sink = (*msgSink)(nil)

func (s *msgSink) Event(ev *ingest.Event) { s.c.Events = append(s.c.Events, *ev) }

func (s *msgSink) Insight(ev *ingest.Event, _ []byte) { s.c.Insights = append(s.c.Insights, *ev) }

func (s *msgSink) Reject(r *ingest.Reject) {
	s.c.Rejects = append(s.c.Rejects, source.Rejected{
		Reason: r.Reason, Detail: r.Detail, Pos: r.Pos, Raw: append([]byte(nil), r.Raw...),
	})
}

func (s *msgSink) Skip(reason ingest.Reason, _ ingest.Position) {
	if s.c.Skips == nil {
		s.c.Skips = make(map[ingest.Reason]int64)
	}
	s.c.Skips[reason]++
}

// flush hands the chunk on when it is full, or always when last.
func (s *msgSink) flush(last bool) error {
	c := s.c
	if !last && len(c.Events) < s.max && len(c.Rejects) < s.max {
		return nil
	}
	c.Last = last
	if err := s.consume(c); err != nil {
		return err
	}
	c.Events, c.Insights, c.Rejects = c.Events[:0], c.Insights[:0], c.Rejects[:0]
	clear(c.Skips)
	c.Bytes = 0
	return nil
}
