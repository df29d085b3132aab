package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Decompressor is Decompress for a goroutine that opens many streams one
// after another: it keeps its read buffers and gzip state between streams,
// so that a replay of thousands of small files (CloudTrail delivers one per
// account and region every five minutes) does not allocate and zero a
// window's worth of buffers per file. The zero value is ready to use; it is
// not safe for concurrent use.
type Decompressor struct {
	raw *bufio.Reader // over the stream, when it is not buffered already
	src sourceReader  // marks the stream's own errors under gzip
	gzb *bufio.Reader // gzip's byte reader over src
	zr  *gzip.Reader
	out gzipErrReader
}

// decompressorBuf is the size of the raw buffer; Decompress uses the same.
const decompressorBuf = 64 << 10

// Reset starts a new stream and returns its decoded content and encoding,
// exactly as Decompress(r) does. The returned reader is valid until the next
// Reset or Release.
func (d *Decompressor) Reset(r io.Reader) (io.Reader, string, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		if d.raw == nil {
			d.raw = bufio.NewReaderSize(r, decompressorBuf)
		} else {
			d.raw.Reset(r)
		}
		br = d.raw
	}
	head, err := br.Peek(sniffPeekBytes)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", err
	}
	if len(head) >= 2 && head[0] == gzipMagic0 && head[1] == gzipMagic1 {
		d.src.r = br
		if d.gzb == nil {
			d.gzb = bufio.NewReader(&d.src)
		} else {
			d.gzb.Reset(&d.src)
		}
		if d.zr == nil {
			d.zr = new(gzip.Reader)
		}
		if err := d.zr.Reset(d.gzb); err != nil {
			return nil, EncodingGzip, errors.Join(ErrCorruptCompression, err)
		}
		d.out.zr = d.zr
		return &d.out, EncodingGzip, nil
	}
	if bytes.HasPrefix(head, []byte(b64GzipPrefix)) {
		return Decompress(br) // rare (relayed CloudWatch Logs payloads): not worth pooling
	}
	return br, EncodingPlain, nil
}

// Release drops the references to the last stream, so that an idle
// Decompressor does not keep a closed file or its reader alive.
func (d *Decompressor) Release() {
	if d.raw != nil {
		d.raw.Reset(nil)
	}
	if d.gzb != nil {
		d.gzb.Reset(nil)
	}
	d.src.r = nil
}
