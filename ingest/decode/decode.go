// Package decode chooses the right decoder for an input stream or message:
// CloudTrail JSON in any of its shapes, VPC flow-log text, or a CloudWatch
// Logs subscription payload carrying either. Detection looks at content
// (gzip magic, then the first bytes), never at file names, so the same code
// serves files, S3 objects and Kafka messages.
package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/cloudtrail"
	"github.com/trailwatch/trailwatch/ingest/vpcflow"
)

// Format forces a decoder; FormatAuto sniffs each input.
type Format string

const (
	FormatAuto       Format = "auto"
	FormatCloudTrail Format = "cloudtrail"
	FormatVPCFlow    Format = "vpcflow"
)

// ParseFormat validates a --format value ("" means auto).
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatAuto:
		return FormatAuto, nil
	case FormatCloudTrail, FormatVPCFlow:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q (want auto, cloudtrail or vpcflow)", s)
}

// Options configure a Decoder.
type Options struct {
	Format     Format
	CloudTrail cloudtrail.Options
	VPCFlow    vpcflow.Options
}

// Decoder dispatches to the CloudTrail and VPC flow decoders. It is not safe
// for concurrent use: make one per goroutine with New.
type Decoder struct {
	format Format
	ct     *cloudtrail.Decoder
	vf     *vpcflow.Decoder
	// Kept between streams: a replay opens thousands of small files, and
	// allocating (and zeroing) these per file cost more than decoding them.
	dz ingest.Decompressor
	br *bufio.Reader
	// Reused for flow-log messages handed to the stream decoder: a fresh
	// 64 KiB reader per Kafka message cost more than decoding the line.
	msg   bytes.Reader
	msgBR *bufio.Reader
}

// New validates opts and returns a decoder.
func New(opts Options) (*Decoder, error) {
	f, err := ParseFormat(string(opts.Format))
	if err != nil {
		return nil, err
	}
	vf, err := vpcflow.NewDecoder(opts.VPCFlow)
	if err != nil {
		return nil, fmt.Errorf("vpcflow: %w", err)
	}
	return &Decoder{format: f, ct: cloudtrail.NewDecoder(opts.CloudTrail), vf: vf}, nil
}

// streamBuf is the read buffer a stream is decoded through.
const streamBuf = 256 << 10

// sniffBytes is how much of a stream is looked at to tell formats apart.
const sniffBytes = 8 << 10

// maxCWLPayload bounds a CloudWatch Logs payload read whole (AWS caps a
// subscription delivery at about 1 MB uncompressed; this leaves margin).
const maxCWLPayload = 64 << 20

// Decode decodes a whole stream: a file, an S3 object, stdin. It returns an
// error only for what stopped the stream early (ReasonOf classifies it); the
// caller counts and keeps that error, every record-level problem has gone to
// sink.Reject.
func (d *Decoder) Decode(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
	dr, _, err := d.dz.Reset(r)
	defer d.dz.Release()
	if err != nil {
		return fmt.Errorf("decode %s: %w", pos.Name, err)
	}
	br, ok := dr.(*bufio.Reader)
	if !ok || br.Size() < streamBuf {
		if d.br == nil {
			d.br = bufio.NewReaderSize(dr, streamBuf)
		} else {
			d.br.Reset(dr)
		}
		br = d.br
		defer d.br.Reset(nil) // don't pin the caller's reader
	}
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("decode %s: %w", pos.Name, err)
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil // an empty file is not an error
	}
	f := d.format
	if f == FormatAuto {
		f = sniff(head)
	}
	switch f {
	case FormatCloudTrail:
		if isCWL(head) {
			return d.decodeCWLStream(br, pos, sink)
		}
		return d.ct.Decode(br, pos, sink)
	case FormatVPCFlow:
		if isCWL(head) {
			return d.decodeCWLStream(br, pos, sink)
		}
		return d.vf.Decode(br, pos, sink)
	}
	sink.Reject(&ingest.Reject{Reason: ingest.ReasonUnknownFormat,
		Detail: "neither CloudTrail JSON nor VPC flow-log text", Pos: pos, Raw: firstLine(head)})
	return nil
}

// DecodeMessage decodes one message already in memory (a Kafka value).
func (d *Decoder) DecodeMessage(b []byte, pos ingest.Position, sink ingest.Sink) error {
	plain, _, err := ingest.DecompressBytes(b)
	if err != nil {
		sink.Reject(&ingest.Reject{Reason: ReasonOf(err), Detail: err.Error(), Pos: pos, Raw: b})
		return nil
	}
	if len(bytes.TrimSpace(plain)) == 0 {
		sink.Skip(ingest.SkipBlank, pos)
		return nil
	}
	f := d.format
	if f == FormatAuto {
		f = sniff(plain)
	}
	if isCWL(plain) {
		return d.decodeCWL(plain, pos, sink)
	}
	switch f {
	case FormatCloudTrail:
		return d.ct.DecodeMessage(plain, pos, sink)
	case FormatVPCFlow:
		d.msg.Reset(plain)
		if d.msgBR == nil {
			d.msgBR = bufio.NewReaderSize(&d.msg, 64<<10)
		} else {
			d.msgBR.Reset(&d.msg)
		}
		err := d.vf.Decode(d.msgBR, pos, sink)
		d.msg.Reset(nil) // do not keep the message reachable
		return err
	}
	sink.Reject(&ingest.Reject{Reason: ingest.ReasonUnknownFormat,
		Detail: "neither CloudTrail JSON nor VPC flow-log text", Pos: pos, Raw: plain})
	return nil
}

func (d *Decoder) decodeCWLStream(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
	b, err := io.ReadAll(io.LimitReader(r, maxCWLPayload+1))
	if err != nil {
		return fmt.Errorf("decode %s: %w", pos.Name, err)
	}
	if len(b) > maxCWLPayload {
		sink.Reject(&ingest.Reject{Reason: ingest.ReasonRecordTooLarge,
			Detail: fmt.Sprintf("CloudWatch Logs payload over %d bytes", maxCWLPayload), Pos: pos})
		return nil
	}
	return d.decodeCWL(b, pos, sink)
}

// decodeCWL routes a subscription payload by what its messages hold: JSON
// objects are CloudTrail records, anything else flow-log lines.
func (d *Decoder) decodeCWL(b []byte, pos ingest.Position, sink ingest.Sink) error {
	env, err := ingest.ParseCWL(b)
	if err != nil {
		sink.Reject(&ingest.Reject{Reason: ingest.ReasonMalformedJSON, Detail: err.Error(), Pos: pos, Raw: b})
		return nil
	}
	if env.MessageType == ingest.CWLControlMessage {
		sink.Skip(ingest.SkipControlMessage, pos)
		return nil
	}
	for i := range env.LogEvents {
		msg := env.LogEvents[i].Message
		p := pos
		p.Index = int64(i)
		if t := bytes.TrimSpace([]byte(msg)); len(t) > 0 && t[0] == '{' && !vpcflow.Sniff(t) {
			d.ct.DecodeRecord(t, p, sink)
			continue
		}
		d.vf.DecodeLine([]byte(msg), p, sink)
	}
	return nil
}

func isCWL(head []byte) bool {
	t := bytes.TrimLeft(head, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && ingest.LooksLikeCWL(t)
}

// sniff names the format of decompressed content from its first bytes.
func sniff(head []byte) Format {
	switch {
	case isCWL(head):
		return FormatCloudTrail // the CWL path routes each message itself
	case cloudtrail.Sniff(head):
		return FormatCloudTrail
	case vpcflow.Sniff(head):
		return FormatVPCFlow
	}
	return ""
}

// ReasonOf classifies an error that stopped a stream.
func ReasonOf(err error) ingest.Reason {
	if errors.Is(err, ingest.ErrCorruptCompression) {
		return ingest.ReasonCorruptCompression
	}
	return ingest.ReasonReadError
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 512 {
		b = b[:512]
	}
	return b
}
