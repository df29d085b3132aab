package cloudtrail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/valyala/fastjson"
)

// DefaultMaxRecordBytes is the default Options.MaxRecordBytes. CloudTrail
// documents no record limit, but records above a few hundred KiB are rare
// (large policy documents); 4 MiB leaves room without letting one bad record
// hold the process hostage.
const DefaultMaxRecordBytes = 4 << 20

// internEntries bounds each decoder's string table.
const internEntries = 1 << 14

// Errors returned by Decode and DecodeMessage for what stops a stream. Each is
// also reported to the sink as a Reject with the byte offset, so a caller that
// only counts rejects misses nothing; the error tells it the rest of the
// stream was not read. Read and decompression errors are returned as they come
// from the reader (wrapping ingest.ErrCorruptCompression for bad gzip) and are
// not reported as rejects.
var (
	// ErrTruncatedStream: the input ended inside a Records (or top-level) array.
	ErrTruncatedStream = errors.New("cloudtrail: JSON stream cut off")
	// ErrMalformedStream: a syntax error inside a Records (or top-level) array,
	// after which record boundaries cannot be found again.
	ErrMalformedStream = errors.New("cloudtrail: malformed JSON stream")
)

// Options configure a Decoder. The zero value is ready to use.
type Options struct {
	// MaxRecordBytes is the largest single record (or buffered envelope, such
	// as a CloudWatch Logs payload) accepted; a larger one is rejected with
	// ReasonRecordTooLarge and skipped. Default DefaultMaxRecordBytes.
	MaxRecordBytes int

	// AssumeUTC reads an eventTime without a zone ("2021-05-20 15:53:47",
	// as Panther's normalised exports write it) as UTC. Off by default: RFC
	// 3339 requires a zone and the decoder does not guess, so such records
	// are rejected with ReasonBadTime. Turn it on only for sources known to
	// write UTC.
	AssumeUTC bool
}

// Decoder turns CloudTrail JSON into ingest.Events. It is not safe for
// concurrent use; use one per goroutine (it reuses parser buffers, and the
// strings it hands out are interned in a per-decoder table).
type Decoder struct {
	max       int
	assumeUTC bool
	p         fastjson.Parser // records and envelopes
	inner     fastjson.Parser // JSON carried inside a string (CWL messages, lookup-events)
	tab       *interner
	sc        scanner
	br        *bufio.Reader
	rd        bytes.Reader

	base  ingest.Position // the stream's position, as given by the caller
	index int64           // next record index in the stream
	sink  ingest.Sink

	f   fields
	ev  ingest.Event
	tmp []byte // scratch: actions, re-serialised raw records
	msg []byte // the CloudWatch Logs message being decoded

	keyBuf [256]byte // a principal key built by resolvePrincipal
}

// where locates a top-level value or array element in the decompressed stream.
type where struct{ off, line int64 }

// NewDecoder returns a Decoder with opts' defaults filled in.
func NewDecoder(opts Options) *Decoder {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	return &Decoder{
		max:       opts.MaxRecordBytes,
		assumeUTC: opts.AssumeUTC,
		tab:       newInterner(internEntries),
		br:        bufio.NewReaderSize(nil, 64<<10),
	}
}

// Decode streams every record in r to sink. r may be plain, gzip or
// base64+gzip (sniffed by magic bytes). Every shape is accepted: a log file
// {"Records":[...]} (streamed record by record, never loaded whole), single
// records, newline-delimited or concatenated records, a top-level array,
// EventBridge envelopes, CloudWatch Logs subscription payloads and the output
// of `aws cloudtrail lookup-events`, in any mix.
//
// Record-level problems go to sink.Reject and decoding goes on; after a
// malformed top-level value decoding resumes at the next line. The returned
// error is only for what stops the stream: a read error, corrupt compression
// (wrapping ingest.ErrCorruptCompression), or an array that is cut off or
// broken (ErrTruncatedStream, ErrMalformedStream), in which case every record
// before the break has been delivered.
//
// pos names the stream; each record's position gets Offset (byte offset in
// the decompressed stream of the record or of its envelope), Line (1-based
// line of a top-level value that starts a line, 0 for array elements) and
// Index (0-based record index). For Kafka positions Offset and Line are left
// as given and only Index is set.
func (d *Decoder) Decode(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
	dr, _, err := ingest.Decompress(r)
	if err != nil {
		return fmt.Errorf("cloudtrail: open %s: %w", pos.Name, err)
	}
	return d.decodeStream(dr, pos, sink)
}

// DecodeMessage decodes one in-memory payload (a Kafka message value) of any
// shape Decode accepts. A plain single JSON object, the common case, is parsed
// in place without the streaming scanner.
func (d *Decoder) DecodeMessage(b []byte, pos ingest.Position, sink ingest.Sink) error {
	if isCompressed(b) {
		return d.Decode(bytes.NewReader(b), pos, sink)
	}
	d.begin(pos, sink)
	lead := 0
	for lead < len(b) && isWS(b[lead]) {
		lead++
	}
	if t := b[lead:]; len(t) > 0 && t[0] == '{' && len(t) <= d.max {
		// Log files and lookup-events output take the streaming path, which
		// gives each record its own offset.
		if v, err := d.p.ParseBytes(t); err == nil && v.Get("Records") == nil && v.Get("Events") == nil {
			d.dispatchValue(t, v, where{off: int64(lead), line: 1 + int64(bytes.Count(b[:lead], newline))})
			return nil
		}
	}
	d.rd.Reset(b)
	return d.decodeStream(&d.rd, pos, sink)
}

// DecodeRecord decodes exactly one CloudTrail record object (already
// unwrapped from any envelope). pos is used as given.
func (d *Decoder) DecodeRecord(b []byte, pos ingest.Position, sink ingest.Sink) {
	d.sink = sink
	if len(b) > d.max {
		d.reject(ingest.ReasonRecordTooLarge, fmt.Sprintf("record of %d bytes exceeds the %d-byte limit", len(b), d.max), pos, nil)
		return
	}
	v, err := d.p.ParseBytes(b)
	if err != nil {
		d.reject(ingest.ReasonMalformedJSON, err.Error(), pos, b)
		return
	}
	d.recordValue(v, b, pos)
}

func isCompressed(b []byte) bool {
	return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b || bytes.HasPrefix(b, []byte("H4sI"))
}

func (d *Decoder) begin(pos ingest.Position, sink ingest.Sink) {
	d.base = pos
	d.index = 0
	d.sink = sink
}

// at returns the position of the next record, found at w, and advances the
// record index.
func (d *Decoder) at(w where) ingest.Position {
	p := d.base
	if !p.IsKafka() {
		p.Offset = w.off
		p.Line = w.line
	}
	p.Index = d.index
	d.index++
	return p
}

// peekPos is at without advancing the index, for stream-level rejects.
func (d *Decoder) peekPos(w where) ingest.Position {
	p := d.at(w)
	d.index--
	return p
}

func (d *Decoder) decodeStream(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
	d.begin(pos, sink)
	br, ok := r.(*bufio.Reader) // ingest.Decompress hands plain input back buffered
	if !ok {
		d.br.Reset(r)
		br = d.br
	}
	s := &d.sc
	s.reset(br, d.max)
	defer func() { s.br = nil; d.br.Reset(nil) }() // don't pin the caller's reader
	s.skipBOM()
	for {
		c, err := s.peekNonWS()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return d.readErr(err)
		}
		w := where{off: s.off}
		if s.lineStart {
			w.line = s.line
		}
		switch c {
		case '{':
			err = d.topObject(w)
		case '[':
			err = d.topArray(w)
		default:
			s.startKeep()
			err = s.skipLine()
			s.keep = false
			d.reject(ingest.ReasonMalformedJSON, fmt.Sprintf("line starts with %q, not a JSON object or array", c), d.at(w), bytes.TrimRight(s.buf, "\r\n"))
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return d.readErr(err)
			}
		}
		if err != nil {
			return err
		}
	}
}

func (d *Decoder) readErr(err error) error {
	pos := d.base
	pos.Offset = d.sc.off
	return &ingest.StreamError{Pos: pos, Err: fmt.Errorf("cloudtrail: read %s at byte %d: %w", d.base.Name, d.sc.off, err)}
}

// Array kinds the scanner streams element by element.
const (
	arrNone    = iota
	arrRecords // {"Records":[record, ...]}
	arrEvents  // lookup-events {"Events":[{"CloudTrailEvent":"..."}, ...]}
	arrAny     // a top-level array: each element is any shape
)

func arrayKind(quotedKey []byte) int {
	switch string(quotedKey) {
	case `"Records"`:
		return arrRecords
	case `"Events"`:
		return arrEvents
	}
	return arrNone
}

// topObject reads a top-level object. If it holds a Records (or Events)
// array, the array is streamed and the object's other keys are ignored;
// otherwise the object is kept (up to the record limit) and dispatched by
// shape once complete.
func (d *Decoder) topObject(w where) error {
	s := &d.sc
	s.startKeep()
	s.next() // '{'
	streamed := false
	fail := func(err error) error {
		s.keep = false
		return d.topErr(err, streamed, w)
	}
	c, err := s.peekNonWS()
	if err != nil {
		return fail(err)
	}
	if c == '}' {
		s.next()
	} else {
		for {
			if c != '"' {
				return fail(s.syntax(0, fmt.Sprintf("unexpected %q where an object key belongs", c)))
			}
			s.grab, s.key = true, s.key[:0]
			err = s.readValue()
			s.grab = false
			if err != nil {
				return fail(err)
			}
			if c, err = s.peekNonWS(); err != nil {
				return fail(err)
			}
			if c != ':' {
				return fail(s.syntax(0, fmt.Sprintf("unexpected %q after object key", c)))
			}
			s.next()
			if c, err = s.peekNonWS(); err != nil {
				return fail(err)
			}
			if kind := arrayKind(s.key); kind != arrNone && c == '[' && !streamed {
				streamed = true
				s.keep = false
				if err := d.streamArray(kind); err != nil {
					return err
				}
			} else if err = s.readValue(); err != nil {
				return fail(err)
			}
			if c, err = s.peekNonWS(); err != nil {
				return fail(err)
			}
			if c == '}' {
				s.next()
				break
			}
			if c != ',' {
				return fail(s.syntax(0, fmt.Sprintf("unexpected %q after a value", c)))
			}
			s.next()
			if c, err = s.peekNonWS(); err != nil {
				return fail(err)
			}
		}
	}
	s.keep = false
	if streamed {
		return nil
	}
	if s.over {
		d.reject(ingest.ReasonRecordTooLarge, fmt.Sprintf("JSON object at byte %d exceeds the %d-byte record limit", w.off, d.max), d.at(w), nil)
		return nil
	}
	d.dispatchBytes(s.buf, w)
	return nil
}

// topErr handles an error while reading a top-level object. Before any array
// was streamed the object is one bad record: reject it and resume at the next
// line. After, the stream itself is broken.
func (d *Decoder) topErr(err error, streamed bool, w where) error {
	s := &d.sc
	var se *syntaxError
	switch {
	case streamed:
		return d.streamErr(err, where{off: s.off})
	case err == errCut || err == io.EOF:
		d.reject(ingest.ReasonMalformedJSON, fmt.Sprintf("input ends at byte %d inside the JSON object starting at byte %d", s.off, w.off), d.at(w), s.buf)
		return nil
	case errors.As(err, &se):
		d.reject(ingest.ReasonMalformedJSON, se.Error(), d.at(w), s.buf)
		if err := s.skipLine(); err != nil && err != io.EOF {
			return d.readErr(err)
		}
		return nil
	default:
		return d.readErr(err)
	}
}

// topArray streams a top-level array whose elements may be any shape.
func (d *Decoder) topArray(_ where) error {
	return d.streamArray(arrAny)
}

// streamArray reads an array (the scanner is at its '[') element by element,
// handing each element to the decoder before reading the next, so memory is
// bounded by the largest element.
func (d *Decoder) streamArray(kind int) error {
	s := &d.sc
	s.next() // '['
	c, err := s.peekNonWS()
	if err != nil {
		return d.streamErr(err, where{off: s.off})
	}
	if c == ']' {
		s.next()
		return nil
	}
	for {
		el := where{off: s.off}
		s.startKeep()
		err := s.readValue()
		s.keep = false
		if err != nil {
			return d.streamErr(err, el)
		}
		switch {
		case s.over:
			d.reject(ingest.ReasonRecordTooLarge, fmt.Sprintf("array element at byte %d exceeds the %d-byte record limit", el.off, d.max), d.at(el), nil)
		case kind == arrRecords:
			d.recordBytes(s.buf, d.at(el))
		case kind == arrEvents:
			d.lookupBytes(s.buf, el)
		default:
			d.dispatchBytes(s.buf, el)
		}
		if c, err = s.peekNonWS(); err != nil {
			return d.streamErr(err, where{off: s.off})
		}
		switch c {
		case ',':
			s.next()
		case ']':
			s.next()
			return nil
		default:
			return d.streamErr(s.syntax(0, fmt.Sprintf("unexpected %q after an array element", c)), where{off: s.off})
		}
	}
}

// streamErr reports what broke an array and returns the error that stops the
// stream. w is where the record being read (or the cut) starts.
func (d *Decoder) streamErr(err error, w where) error {
	s := &d.sc
	var se *syntaxError
	switch {
	case err == errCut || err == io.EOF:
		pos := d.peekPos(w)
		d.reject(ingest.ReasonTruncatedStream, fmt.Sprintf("input ends at byte %d inside a JSON array; the cut record starts at byte %d", s.off, w.off), pos, nil)
		return fmt.Errorf("%s: %w", pos, ErrTruncatedStream)
	case errors.As(err, &se):
		pos := d.peekPos(w)
		d.reject(ingest.ReasonMalformedJSON, se.Error()+" inside a JSON array; the rest of the stream is unreadable", pos, nil)
		return fmt.Errorf("%s: %w: %v", pos, ErrMalformedStream, se)
	default:
		return d.readErr(err)
	}
}

// dispatchBytes parses a complete top-level value or array element and
// dispatches it by shape.
func (d *Decoder) dispatchBytes(raw []byte, w where) {
	v, err := d.p.ParseBytes(raw)
	if err != nil {
		d.reject(ingest.ReasonMalformedJSON, err.Error(), d.at(w), raw)
		return
	}
	d.dispatchValue(raw, v, w)
}

// recordBytes decodes one element of a Records array.
func (d *Decoder) recordBytes(raw []byte, pos ingest.Position) {
	v, err := d.p.ParseBytes(raw)
	if err != nil {
		d.reject(ingest.ReasonMalformedJSON, err.Error(), pos, raw)
		return
	}
	d.recordValue(v, raw, pos)
}

// lookupBytes decodes one element of a lookup-events Events array.
func (d *Decoder) lookupBytes(raw []byte, w where) {
	v, err := d.p.ParseBytes(raw)
	if err != nil {
		d.reject(ingest.ReasonMalformedJSON, err.Error(), d.at(w), raw)
		return
	}
	d.lookupValue(v, raw, d.at(w))
}

func (d *Decoder) reject(reason ingest.Reason, detail string, pos ingest.Position, raw []byte) {
	d.sink.Reject(&ingest.Reject{Reason: reason, Detail: detail, Pos: pos, Raw: raw})
}
