package workload

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"
)

// FileOptions controls WriteFiles.
type FileOptions struct {
	// Plain writes uncompressed files (names without .gz).
	Plain bool
	// Interval is the span of event time per file; default 5 minutes, as
	// CloudTrail delivers.
	Interval time.Duration
	// Level is the gzip level (klauspost/compress/gzip); 0 means the default.
	Level int
}

// FileStats counts what WriteFiles wrote.
type FileStats struct {
	CloudTrailFiles   int   `json:"cloudtrail_files"`
	FlowFiles         int   `json:"flow_files"`
	CloudTrailRecords int64 `json:"cloudtrail_records"`
	FlowRecords       int64 `json:"flow_records"`
	Bytes             int64 `json:"bytes"` // bytes written to disk
}

type fileKey struct {
	kind    Kind
	account string
	region  string
	flowLog string
}

type outFile struct {
	f   *os.File
	bw  *bufio.Writer
	gz  *gzip.Writer
	w   io.Writer
	n   int64
	cnt countWriter
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteFiles drains g into dir in the S3 layout AWS delivers to, so that
// `trailwatch replay DIR` and the S3 key-layout code see real shapes:
//
//	AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz
//	AWSLogs/ACCOUNT/vpcflowlogs/REGION/YYYY/MM/DD/ACCOUNT_vpcflowlogs_REGION_fl-ID_YYYYMMDDTHHMMZ_HASH.log.gz
//
// A CloudTrail file is one {"Records":[...]} object; a flow file is its
// format's header line and one record per line. There is one file per
// account and region (per flow log) and Interval of event time, named by the
// start of that interval (AWS names files by delivery time, a few minutes
// later; the layout is the same). Files are streamed: at most one file per
// account/region/kind is open at a time.
func WriteFiles(dir string, g *Generator, opts FileOptions) (FileStats, error) {
	w := fileWriter{dir: dir, g: g, opts: opts, open: map[fileKey]*outFile{}, dirs: map[string]bool{}}
	if w.opts.Interval <= 0 {
		w.opts.Interval = 5 * time.Minute
	}
	if w.opts.Level == 0 {
		w.opts.Level = gzip.DefaultCompression
	}
	err := w.run()
	if cerr := w.closeAll(); err == nil {
		err = cerr
	}
	return w.stats, err
}

type fileWriter struct {
	dir    string
	g      *Generator
	opts   FileOptions
	open   map[fileKey]*outFile
	free   []*gzip.Writer
	dirs   map[string]bool
	bucket int64
	stats  FileStats
	name   []byte
}

func (w *fileWriter) run() error {
	var r Record
	iv := int64(w.opts.Interval / time.Second)
	w.bucket = -1 << 62
	for w.g.Next(&r) {
		b := r.Time.Unix() / iv
		if r.Time.Unix() < 0 && r.Time.Unix()%iv != 0 {
			b--
		}
		if b != w.bucket {
			if err := w.closeAll(); err != nil {
				return err
			}
			w.bucket = b
		}
		k := fileKey{kind: r.Kind, account: r.Account, region: r.Region, flowLog: r.FlowLog}
		f := w.open[k]
		if f == nil {
			var err error
			if f, err = w.create(k, r.Format, time.Unix(b*iv, 0).UTC()); err != nil {
				return err
			}
			w.open[k] = f
		}
		var err error
		if r.Kind == CloudTrail {
			if f.n > 0 {
				_, err = f.w.Write([]byte{','})
			}
			if err == nil {
				_, err = f.w.Write(r.Body)
			}
			w.stats.CloudTrailRecords++
		} else {
			if _, err = f.w.Write(r.Body); err == nil {
				_, err = f.w.Write([]byte{'\n'})
			}
			w.stats.FlowRecords++
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.f.Name(), err)
		}
		f.n++
	}
	return nil
}

// create opens the file of key k for the interval starting at t and writes its preamble.
func (w *fileWriter) create(k fileKey, format FlowFormat, t time.Time) (*outFile, error) {
	day := t.Format("2006/01/02")
	stamp := t.Format("20060102T1504Z")
	n := w.name[:0]
	n = append(n, "AWSLogs/"...)
	n = append(n, k.account...)
	h := hash3(w.g.seed^saltFile, uint64(t.Unix()), fnv1a(k.account+"|"+k.region+"|"+k.flowLog))
	if k.kind == CloudTrail {
		n = append(n, "/CloudTrail/"...)
		n = append(n, k.region...)
		n = append(n, '/')
		n = append(n, day...)
		n = append(n, '/')
		n = append(n, k.account...)
		n = append(n, "_CloudTrail_"...)
		n = append(n, k.region...)
		n = append(n, '_')
		n = append(n, stamp...)
		n = append(n, '_')
		n = appendIDN(n, "", h, 16)
		n = append(n, ".json"...)
	} else {
		n = append(n, "/vpcflowlogs/"...)
		n = append(n, k.region...)
		n = append(n, '/')
		n = append(n, day...)
		n = append(n, '/')
		n = append(n, k.account...)
		n = append(n, "_vpcflowlogs_"...)
		n = append(n, k.region...)
		n = append(n, '_')
		n = append(n, k.flowLog...)
		n = append(n, '_')
		n = append(n, stamp...)
		n = append(n, '_')
		n = appendHex(n, h, 8)
		n = append(n, ".log"...)
	}
	if !w.opts.Plain {
		n = append(n, ".gz"...)
	}
	w.name = n
	path := filepath.Join(w.dir, filepath.FromSlash(string(n)))
	if d := filepath.Dir(path); !w.dirs[d] {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
		w.dirs[d] = true
	}
	fh, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f := &outFile{f: fh}
	f.cnt.w = fh
	f.bw = bufio.NewWriterSize(&f.cnt, 64<<10)
	f.w = f.bw
	if !w.opts.Plain {
		if len(w.free) > 0 {
			f.gz = w.free[len(w.free)-1]
			w.free = w.free[:len(w.free)-1]
			f.gz.Reset(f.bw)
		} else if f.gz, err = gzip.NewWriterLevel(f.bw, w.opts.Level); err != nil {
			fh.Close()
			return nil, fmt.Errorf("gzip level %d: %w", w.opts.Level, err)
		}
		f.w = f.gz
	}
	if k.kind == CloudTrail {
		_, err = io.WriteString(f.w, `{"Records":[`)
		w.stats.CloudTrailFiles++
	} else {
		_, err = io.WriteString(f.w, format.Header()+"\n")
		w.stats.FlowFiles++
	}
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return f, nil
}

// closeAll finishes every open file (closing the Records array).
func (w *fileWriter) closeAll() error {
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	for k, f := range w.open {
		if k.kind == CloudTrail {
			_, err := io.WriteString(f.w, "]}")
			keep(err)
		}
		if f.gz != nil {
			keep(f.gz.Close())
			w.free = append(w.free, f.gz)
		}
		keep(f.bw.Flush())
		keep(f.f.Close())
		w.stats.Bytes += f.cnt.n
		delete(w.open, k)
	}
	if first != nil {
		return fmt.Errorf("finish files: %w", first)
	}
	return nil
}

// fnv1a is FNV-1a: a small stable string hash for file-name suffixes.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
