package cloudtrail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// The scanner finds the boundaries of JSON values in a stream without
// building them: it is what lets a CloudTrail log file of hundreds of MB be
// decoded one record at a time. It reads straight out of a bufio.Reader's
// window (Peek/Discard), keeps the bytes of the value being read in buf when
// asked to (bounded by limit), and tracks the byte offset and line number of
// the next unread byte. It checks the full JSON grammar (structure, string
// escapes, number and literal syntax, nesting depth) but does not check for
// raw control characters inside strings; the record parser sees those.

// maxScanDepth bounds the scanner's nesting stack. Deeper values are a stream
// error; the record parser rejects anything beyond fastjson.MaxDepth (300) on
// its own as a record-level problem.
const maxScanDepth = 4096

// slashAhead is how far past a string's start the scanner looks for a
// backslash at once (see readValue).
const slashAhead = 4 << 10

// maxScalarLen bounds a number or literal token.
const maxScalarLen = 512

// errCut says the stream ended inside a value.
var errCut = errors.New("unexpected end of input")

// syntaxError is a grammar violation at a stream offset.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

type scanner struct {
	br        *bufio.Reader
	off       int64 // stream offset of the next unread byte
	line      int64 // 1-based line of the next unread byte
	lineStart bool  // only whitespace since the last newline (or the start)

	keep  bool   // append consumed bytes to buf
	limit int    // most bytes kept in buf; beyond it over is set and keeping stops
	over  bool   // buf overflowed limit
	buf   []byte // kept bytes of the current value
	grab  bool   // also copy consumed bytes to key (bounded), for object keys
	key   []byte

	stack []byte // open containers, '{' or '['
	tok   []byte // current number or literal
}

func (s *scanner) reset(br *bufio.Reader, limit int) {
	s.br = br
	s.off = 0
	s.line = 1
	s.lineStart = true
	s.keep = false
	s.limit = limit
	s.over = false
	s.buf = s.buf[:0]
	s.grab = false
	s.key = s.key[:0]
	// Keep buf from pinning a huge allocation from an earlier stream.
	if cap(s.buf) > 4*limit && cap(s.buf) > 1<<20 {
		s.buf = nil
	}
}

// startKeep begins keeping the bytes of a new value.
func (s *scanner) startKeep() {
	s.keep = true
	s.over = false
	s.buf = s.buf[:0]
}

// window returns the unread buffered bytes, reading more when none are
// buffered. It returns io.EOF at a clean end of input and the reader's error
// otherwise.
func (s *scanner) window() ([]byte, error) {
	if s.br.Buffered() == 0 {
		if _, err := s.br.Peek(1); err != nil {
			return nil, err
		}
	}
	w, _ := s.br.Peek(s.br.Buffered())
	return w, nil
}

// consume marks the first n bytes of w (the current window) as read.
func (s *scanner) consume(w []byte, n int) {
	if n == 0 {
		return
	}
	chunk := w[:n]
	if s.keep && !s.over {
		if len(s.buf)+n > s.limit {
			s.over = true
		} else {
			s.buf = append(s.buf, chunk...)
		}
	}
	if s.grab && len(s.key) < 64 {
		s.key = append(s.key, chunk[:min(n, 64-len(s.key))]...)
	}
	s.line += int64(bytes.Count(chunk, newline))
	s.off += int64(n)
	_, _ = s.br.Discard(n)
}

var newline = []byte{'\n'}

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// peekNonWS skips whitespace (noting line starts) and returns the next byte
// without consuming it.
func (s *scanner) peekNonWS() (byte, error) {
	for {
		w, err := s.window()
		if err != nil {
			return 0, err
		}
		i := 0
		for i < len(w) && isWS(w[i]) {
			if w[i] == '\n' {
				s.lineStart = true
			}
			i++
		}
		s.consume(w, i)
		if i < len(w) {
			return w[i], nil
		}
	}
}

// skipBOM drops a UTF-8 byte order mark at the start of the stream.
func (s *scanner) skipBOM() {
	if w, err := s.br.Peek(3); err == nil && w[0] == 0xEF && w[1] == 0xBB && w[2] == 0xBF {
		_, _ = s.br.Discard(3)
		s.off += 3
	}
}

// next consumes one byte that the caller has peeked.
func (s *scanner) next() {
	w, _ := s.window()
	s.consume(w, 1)
	s.lineStart = false
}

// skipLine discards input up to and including the next newline (or to EOF).
// It is how newline-delimited input resynchronises after a bad record.
func (s *scanner) skipLine() error {
	keep := s.keep
	s.keep = false
	defer func() { s.keep = keep }()
	for {
		w, err := s.window()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(w, '\n'); i >= 0 {
			s.consume(w, i+1)
			s.lineStart = true
			return nil
		}
		s.consume(w, len(w))
	}
}

// Scanner states.
const (
	stValue    = iota // a value is expected
	stArrFirst        // after '[': a value or ']'
	stObjFirst        // after '{': a key or '}'
	stKey             // after ',' in an object: a key
	stColon           // after a key
	stNext            // after a value in a container: ',' or the close
	stString          // inside a string
	stEsc             // after a backslash in a string
	stHex             // inside \uXXXX
	stScalar          // inside a number or literal
)

// readValue consumes exactly one JSON value, starting at the next
// non-whitespace byte. It returns errCut when the input ends inside the value,
// a *syntaxError for bad JSON, or the reader's error.
func (s *scanner) readValue() error {
	s.stack = s.stack[:0]
	s.tok = s.tok[:0]
	state, isKey, hex := stValue, false, 0
	for {
		w, err := s.window()
		if err != nil {
			if err == io.EOF {
				if state == stScalar && len(s.stack) == 0 {
					return s.checkScalar()
				}
				return errCut
			}
			return err
		}
		s.lineStart = false
		i, done, msg := 0, false, ""
		quoteAt, slashAt, slashEnd := -1, -1, -1
	loop:
		for i < len(w) {
			c := w[i]
			switch state {
			case stString:
				// The next quote and backslash are searched for only once
				// they are behind i, keeping strings full of escapes linear.
				// The backslash search stops at slashEnd, a little past the
				// quote, and slashAt == slashEnd says none was found before
				// it: searching to the end of the window cost every record
				// a scan of everything buffered after it, and searching only
				// up to the quote a call per string.
				if quoteAt < i {
					quoteAt = indexFrom(w, i, '"')
				}
				if slashAt < i || slashAt == slashEnd && slashEnd < quoteAt {
					slashEnd = max(quoteAt, min(len(w), i+slashAhead))
					slashAt = indexFrom(w[:slashEnd], i, '\\')
				}
				if slashAt < quoteAt {
					i = slashAt + 1
					state = stEsc
					continue
				}
				if quoteAt == len(w) {
					i = len(w)
					break loop
				}
				i = quoteAt + 1
				if isKey {
					state = stColon
				} else if state, done = s.afterValue(); done {
					break loop
				}
			case stEsc:
				switch c {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					state = stString
				case 'u':
					state, hex = stHex, 4
				default:
					msg = fmt.Sprintf("invalid escape \\%q in string", c)
					break loop
				}
				i++
			case stHex:
				if !isHexDigit(c) {
					msg = "invalid \\u escape in string"
					break loop
				}
				i++
				if hex--; hex == 0 {
					state = stString
				}
			case stScalar:
				if isScalarByte(c) {
					if len(s.tok) >= maxScalarLen {
						msg = "number or literal too long"
						break loop
					}
					s.tok = append(s.tok, c)
					i++
					continue
				}
				if err := s.checkScalar(); err != nil {
					msg = err.(*syntaxError).msg
					break loop
				}
				if state, done = s.afterValue(); done {
					break loop
				}
			default:
				if isWS(c) {
					i++
					continue
				}
				switch state {
				case stValue, stArrFirst:
					if c == ']' && state == stArrFirst {
						s.stack = s.stack[:len(s.stack)-1]
						i++
						if state, done = s.afterValue(); done {
							break loop
						}
						continue
					}
					switch {
					case c == '{' || c == '[':
						if len(s.stack) >= maxScanDepth {
							msg = "nesting too deep"
							break loop
						}
						s.stack = append(s.stack, c)
						state = stObjFirst
						if c == '[' {
							state = stArrFirst
						}
						i++
					case c == '"':
						state, isKey = stString, false
						i++
					case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
						state = stScalar
						s.tok = s.tok[:0]
					default:
						msg = fmt.Sprintf("unexpected %q where a value belongs", c)
						break loop
					}
				case stObjFirst, stKey:
					switch {
					case c == '}' && state == stObjFirst:
						s.stack = s.stack[:len(s.stack)-1]
						i++
						if state, done = s.afterValue(); done {
							break loop
						}
					case c == '"':
						state, isKey = stString, true
						i++
					default:
						msg = fmt.Sprintf("unexpected %q where an object key belongs", c)
						break loop
					}
				case stColon:
					if c != ':' {
						msg = fmt.Sprintf("unexpected %q after object key", c)
						break loop
					}
					state = stValue
					i++
				case stNext:
					top := s.stack[len(s.stack)-1]
					switch {
					case c == ',':
						state = stValue
						if top == '{' {
							state = stKey
						}
						i++
					case c == '}' && top == '{', c == ']' && top == '[':
						s.stack = s.stack[:len(s.stack)-1]
						i++
						if state, done = s.afterValue(); done {
							break loop
						}
					default:
						msg = fmt.Sprintf("unexpected %q after a value", c)
						break loop
					}
				}
			}
		}
		s.consume(w, i) // on a syntax error, up to the offending byte
		if msg != "" {
			return &syntaxError{off: s.off, msg: msg}
		}
		if done {
			return nil
		}
	}
}

// indexFrom returns the index in w of the first c at or after i, or len(w).
func indexFrom(w []byte, i int, c byte) int {
	if j := bytes.IndexByte(w[i:], c); j >= 0 {
		return i + j
	}
	return len(w)
}

func (s *scanner) afterValue() (state int, done bool) {
	if len(s.stack) == 0 {
		return stValue, true
	}
	return stNext, false
}

func (s *scanner) syntax(i int, msg string) error {
	return &syntaxError{off: s.off + int64(i), msg: msg}
}

// checkScalar validates the number or literal in tok.
func (s *scanner) checkScalar() error {
	t := s.tok
	switch t[0] {
	case 't':
		if string(t) == "true" {
			return nil
		}
	case 'f':
		if string(t) == "false" {
			return nil
		}
	case 'n':
		if string(t) == "null" {
			return nil
		}
	default:
		if validNumber(t) {
			return nil
		}
	}
	return &syntaxError{off: s.off, msg: fmt.Sprintf("invalid literal %q", trimForDetail(t))}
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.'
}

// validNumber reports whether b is a JSON number (RFC 8259 section 6).
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(b)
}
