package ingest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Sniffed transport encodings of an input stream.
const (
	EncodingPlain  = "plain"
	EncodingGzip   = "gzip"
	EncodingB64Gz  = "base64+gzip" // CloudWatch Logs payloads relayed as text (Kinesis, Firehose)
	gzipMagic0     = 0x1f
	gzipMagic1     = 0x8b
	b64GzipPrefix  = "H4sI" // base64 of 1f 8b 08
	sniffPeekBytes = 4
)

// ErrCorruptCompression wraps errors from a gzip stream that is truncated or
// corrupt; callers count it as ReasonCorruptCompression.
var ErrCorruptCompression = errors.New("corrupt compressed stream")

// Decompress looks at the first bytes of r (by magic, never by file name) and
// returns a reader of the decoded content and the encoding it found. Gzip
// members are read as one stream, as gzip(1) does. Errors from the returned
// reader that come from the compression layer wrap ErrCorruptCompression.
func Decompress(r io.Reader) (io.Reader, string, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	head, err := br.Peek(sniffPeekBytes)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", err
	}
	switch {
	case len(head) >= 2 && head[0] == gzipMagic0 && head[1] == gzipMagic1:
		zr, err := gzip.NewReader(bufio.NewReader(&sourceReader{br}))
		if err != nil {
			return nil, EncodingGzip, errors.Join(ErrCorruptCompression, err)
		}
		return &gzipErrReader{zr}, EncodingGzip, nil
	case bytes.HasPrefix(head, []byte(b64GzipPrefix)):
		dec := base64.NewDecoder(base64.StdEncoding, &trimNewlines{r: &sourceReader{br}})
		inner := bufio.NewReader(dec)
		zr, err := gzip.NewReader(inner)
		if err != nil {
			return nil, EncodingB64Gz, errors.Join(ErrCorruptCompression, err)
		}
		return &gzipErrReader{zr}, EncodingB64Gz, nil
	}
	return br, EncodingPlain, nil
}

// DecompressBytes is Decompress for a whole message already in memory (a Kafka
// value). Plain input is returned as is, without copying.
func DecompressBytes(b []byte) ([]byte, string, error) {
	if len(b) >= 2 && b[0] == gzipMagic0 && b[1] == gzipMagic1 ||
		bytes.HasPrefix(b, []byte(b64GzipPrefix)) {
		r, enc, err := Decompress(bytes.NewReader(b))
		if err != nil {
			return nil, enc, err
		}
		out, err := io.ReadAll(r)
		return out, enc, err
	}
	return b, EncodingPlain, nil
}

type gzipErrReader struct{ zr *gzip.Reader }

func (g *gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		var se *sourceError
		if errors.As(err, &se) {
			return n, se.err // the underlying reader failed: a read error, not corruption
		}
		err = errors.Join(ErrCorruptCompression, err)
	}
	return n, err
}

// sourceReader marks errors of the underlying reader so they are not mistaken
// for corrupt compression.
type sourceReader struct{ r io.Reader }

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

// trimNewlines drops CR and LF so that wrapped base64 decodes.
type trimNewlines struct{ r io.Reader }

func (t *trimNewlines) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	j := 0
	for i := 0; i < n; i++ {
		if c := p[i]; c != '\n' && c != '\r' {
			p[j] = c
			j++
		}
	}
	return j, err
}
