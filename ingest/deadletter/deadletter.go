// Package deadletter keeps rejected input so that nothing is silently lost:
// every record a decoder could not use is written with its reason, detail
// and position, byte for byte, so it can be inspected and replayed after a fix.
package deadletter

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/ingest"
)

// Record is one dead letter as written (one JSON object per line). Raw holds
// the original bytes when they are valid UTF-8, RawBase64 otherwise.
type Record struct {
	Reason    ingest.Reason `json:"reason"`
	Detail    string        `json:"detail,omitempty"`
	Position  string        `json:"position"`
	Name      string        `json:"name"`
	Partition *int32        `json:"partition,omitempty"`
	Offset    int64         `json:"offset"`
	Line      int64         `json:"line,omitempty"`
	Index     int64         `json:"index"`
	Raw       string        `json:"raw,omitempty"`
	RawBase64 string        `json:"raw_base64,omitempty"`
}

// NewRecord builds a Record, copying raw.
func NewRecord(reason ingest.Reason, detail string, pos ingest.Position, raw []byte) Record {
	r := Record{Reason: reason, Detail: detail, Position: pos.String(), Name: pos.Name,
		Offset: pos.Offset, Line: pos.Line, Index: pos.Index}
	if pos.IsKafka() {
		p := pos.Partition
		r.Partition = &p
	}
	if utf8.Valid(raw) {
		r.Raw = string(raw)
	} else {
		r.RawBase64 = base64.StdEncoding.EncodeToString(raw)
	}
	return r
}

// Bytes returns the original bytes of the record.
func (r *Record) Bytes() ([]byte, error) {
	if r.RawBase64 != "" {
		return base64.StdEncoding.DecodeString(r.RawBase64)
	}
	return []byte(r.Raw), nil
}

// Writer appends dead letters as JSON lines. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	c   io.Closer
	n   int64
	err error
}

// Create opens path for writing dead letters, truncating it.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	return NewWriter(f), nil
}

// NewWriter writes to w; Close closes w if it is an io.Closer.
func NewWriter(w io.Writer) *Writer {
	c, _ := w.(io.Closer)
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10), c: c}
}

// Write appends one record. The first error sticks and is returned by every
// later call and by Close.
func (w *Writer) Write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	b = append(b, '\n')
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("dead-letter write: %w", err)
		return w.err
	}
	w.n++
	return nil
}

// Count returns the number of records written.
func (w *Writer) Count() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Close flushes and closes. It is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bw == nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("dead-letter flush: %w", err)
	}
	if w.c != nil {
		if err := w.c.Close(); err != nil && w.err == nil {
			w.err = fmt.Errorf("dead-letter close: %w", err)
		}
	}
	w.bw = nil
	return w.err
}

// ReadAll reads a dead-letter file back.
func ReadAll(r io.Reader) ([]Record, error) {
	var out []Record
	dec := json.NewDecoder(r)
	for {
		var rec Record
		if err := dec.Decode(&rec); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
