package vpcflow

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/trailwatch/trailwatch/ingest"
)

const streamBufSize = 64 << 10

// Decode streams lines from r, plain, gzip or base64+gzip (by magic bytes, see
// ingest.Decompress). The stream starts with the configured format; a header
// line sets the columns for the lines after it, and a later header may change
// them. pos names the stream: each record gets Line (1-based), Index (Line-1)
// and, for files, Offset (byte offset of the line in the decompressed stream;
// for Kafka positions Offset stays the message offset).
//
// Decode returns an error only for what stops the stream: an I/O error of r,
// or corrupt or truncated compression (wrapping ingest.ErrCorruptCompression)
// after everything before the damage has been delivered. Bad records are
// rejected to the sink and decoding goes on.
func (d *Decoder) Decode(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
	d.cur = d.def
	dr, _, err := ingest.Decompress(r)
	if err != nil {
		return fmt.Errorf("vpcflow: decode %s: %w", pos.Name, err)
	}
	br, ok := dr.(*bufio.Reader)
	if !ok {
		if d.br == nil {
			d.br = bufio.NewReaderSize(dr, streamBufSize)
		} else {
			d.br.Reset(dr)
		}
		br = d.br
		defer br.Reset(nil) // do not keep the stream reachable
	}
	kafka := pos.IsKafka()
	var off, lineNo int64
	for {
		line, n, tooLong, err := d.readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			// A line cut short by the error is not delivered: its last
			// field could be a truncated number that still parses.
			at := pos
			if !kafka {
				at.Offset, at.Line = off, lineNo
			}
			return &ingest.StreamError{Pos: at, Err: fmt.Errorf("vpcflow: decode %s after line %d: %w", pos.Name, lineNo, err)}
		}
		if n > 0 {
			lineNo++
			p := pos
			p.Line, p.Index = lineNo, lineNo-1
			if !kafka {
				p.Offset = off
			}
			if tooLong {
				d.reject(sink, ingest.ReasonRecordTooLarge, fmt.Sprintf("line of %d bytes exceeds %d", n, d.maxLine), p, line)
			} else {
				d.decodeText(line, p, sink, false)
			}
			off += int64(n)
		}
		if err != nil {
			return nil
		}
	}
}

// readLine returns the next line (with its terminator) and its length in the
// stream. A line longer than maxLine is consumed and reported with tooLong set
// and only its beginning returned.
func (d *Decoder) readLine(br *bufio.Reader) (line []byte, n int, tooLong bool, err error) {
	line, err = br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, len(line), len(line) > d.maxLine, err
	}
	d.long = append(d.long[:0], line...)
	n = len(line)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = br.ReadSlice('\n')
		n += len(line)
		if !tooLong {
			if len(d.long)+len(line) > d.maxLine {
				tooLong = true
				if len(d.long) > maxDetailValue*4 {
					d.long = d.long[:maxDetailValue*4]
				}
			} else {
				d.long = append(d.long, line...)
			}
		}
	}
	if cap(d.long) > 4*streamBufSize && !tooLong {
		// keep the returned copy, but let a huge buffer go after this line
		out := d.long
		d.long = nil
		return out, n, false, err
	}
	return d.long, n, tooLong, err
}

// Sniff reports whether head, the first bytes of a decompressed stream, looks
// like flow-log text: a header line, a record, or a JSON wrapper or CloudWatch
// Logs payload whose first message is one. It is a heuristic for routing input
// between decoders; the decoder itself never relies on it.
func Sniff(head []byte) bool {
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = trimLine(line)
		if len(line) == 0 {
			continue
		}
		if line[0] == '{' {
			msg, ok := firstMessage(line)
			return ok && looksLikeRecord(trimLine(msg))
		}
		var buf [64][]byte
		toks := split(buf[:0], line, maxColumns)
		return isHeader(toks) || looksLikeRecord(line)
	}
	return false
}

// firstMessage finds the first "message" string value of a JSON text by
// scanning (it may be cut off). Escapes are not decoded: flow lines have none.
func firstMessage(b []byte) ([]byte, bool) {
	i := bytes.Index(b, []byte(`"message"`))
	if i < 0 {
		return nil, false
	}
	b = bytes.TrimLeft(b[i+len(`"message"`):], " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return nil, false
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] != '"' {
		return nil, false
	}
	b = b[1:]
	if j := bytes.IndexByte(b, '"'); j >= 0 {
		b = b[:j]
	}
	return b, true
}

// looksLikeRecord: at least four plain tokens, with an ENI or instance id, an
// action or status keyword, or two addresses.
func looksLikeRecord(line []byte) bool {
	var buf [64][]byte
	toks := split(buf[:0], line, 64)
	if len(toks) < 4 || len(toks) > 64 {
		return false
	}
	addrs := 0
	for _, t := range toks {
		if bytes.ContainsAny(t, "{}[]\",=") {
			return false
		}
		switch {
		case bytes.HasPrefix(t, []byte("eni-")), bytes.HasPrefix(t, []byte("i-")),
			bytes.Equal(t, bAccept), bytes.Equal(t, bReject), bytes.Equal(t, bNoData), bytes.Equal(t, bSkipData):
			return true
		}
		if _, ok := parseAddr(t); ok {
			addrs++
		}
	}
	return addrs >= 2
}
