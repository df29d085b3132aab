// Package replay runs trailwatch over historical logs: files, directories,
// stdin and S3 objects are decoded in parallel, delivered in a fixed order,
// and fed to the same detection engine the live service uses, so a replay
// gives the same alerts as a live run, byte for byte on every run.
package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/deadletter"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/ingest/source"
)

// Options configure a replay.
type Options struct {
	Inputs      []string     // paths, directories, "-" for stdin, s3://bucket/prefix, kafka://brokers/topic?from=&to=
	Stdin       io.Reader    // read for "-"; default os.Stdin
	S3          source.S3API // client for s3:// inputs; nil means NewS3 is called on first need
	NewS3       func(ctx context.Context) (source.S3API, error)
	S3Range     source.S3Range
	Kafka       *kafka.Conn // TLS/SASL for kafka:// inputs; nil: plaintext
	Decode      decode.Options
	Baseline    baseline.Options
	Detect      detect.Config
	Parallelism int // inputs decoded at once; default 2
	// Partitions > 0 mirrors a scaled-out service whose events topic has
	// this many partitions: one engine per partition, each with its own
	// baselines, peer groups and watermark, fed the events of the principals
	// the service's producer puts there (see partitioned.go; alerts are then
	// held until the input ends). 0 runs one engine. At most MaxPartitions;
	// not with StateFile.
	Partitions int
	// PartitionBy is how the mirrored service places events:
	// partition.ByPrincipal (the default) or partition.ByAccount.
	PartitionBy string

	Out         io.Writer // alerts as JSON lines; nil discards
	DeadLetter  string    // file keeping every rejected record; empty: none
	SummaryJSON string    // file for the summary; empty: none
	StateFile   string    // baseline snapshot to load before and save after; empty: none
	Progress    io.Writer // a terminal for progress lines; nil: quiet
	Logger      *zap.Logger
	// OnAlert, if set, sees every alert after it is written (replay
	// --respond hands them to the response stage). It runs on the consumer
	// goroutine.
	OnAlert func(*detect.Alert)
	Now     func() time.Time // for the progress clock and Seconds; default time.Now
}

// Summary is what a replay reports, on stderr and in --summary-json.
type Summary struct {
	Records     int64            `json:"records"`  // everything read that is a record: decoded, insights, rejected, skipped
	Decoded     int64            `json:"decoded"`  // activity events handed to detection
	Rejected    map[string]int64 `json:"rejected"` // by reason; every one is in the dead-letter file when one is given
	Principals  int64            `json:"principals"`
	Alerts      int64            `json:"alerts"`
	Seconds     float64          `json:"seconds"`
	Insights    int64            `json:"insights"`
	Skipped     map[string]int64 `json:"skipped"` // NODATA/SKIPDATA records, control messages, headers, blank lines
	Inputs      int              `json:"inputs"`
	InputErrors int              `json:"input_errors"` // inputs that stopped early (corrupt gzip, read errors)
	Bytes       int64            `json:"bytes"`        // stored (compressed) bytes read
}

// TotalRejected sums Rejected.
func (s *Summary) TotalRejected() int64 {
	var n int64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// String renders the summary for a terminal.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replay: %d inputs, %d records, %d decoded, %d rejected, %d insights, %d principals, %d alerts in %.2fs",
		s.Inputs, s.Records, s.Decoded, s.TotalRejected(), s.Insights, s.Principals, s.Alerts, s.Seconds)
	if s.Seconds > 0 {
		fmt.Fprintf(&b, " (%.0f records/s)", float64(s.Records)/s.Seconds)
	}
	keys := make([]string, 0, len(s.Rejected))
	for k := range s.Rejected {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  rejected %-24s %d", k, s.Rejected[k])
	}
	return b.String()
}

// Run replays opts.Inputs and returns the summary. The error is for what
// stopped the replay as a whole (bad arguments, unreadable state, a failed
// output); records that could not be decoded are counted, not errors.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	start := opts.Now()
	sum := &Summary{Rejected: map[string]int64{}, Skipped: map[string]int64{}}
	if err := checkPartitions(&opts); err != nil {
		return nil, err
	}

	msgDec, err := decode.New(opts.Decode)
	if err != nil {
		return nil, err
	}
	var kafkaIns []kafkaInput
	if opts.Inputs, kafkaIns, err = splitInputs(opts.Inputs); err != nil {
		return nil, err
	}
	units, err := enumerate(ctx, &opts)
	if err != nil {
		return nil, err
	}
	sum.Inputs = len(units) + len(kafkaIns)

	var store *baseline.Store
	if opts.Partitions == 0 {
		if store, err = openStore(opts.StateFile, opts.Baseline, opts.Detect.Window); err != nil {
			return nil, err
		}
	}

	var dl *deadletter.Writer
	if opts.DeadLetter != "" {
		if dl, err = deadletter.Create(opts.DeadLetter); err != nil {
			return nil, err
		}
		defer dl.Close()
	}
	reject := func(reason ingest.Reason, detail string, pos ingest.Position, raw []byte) error {
		sum.Rejected[string(reason)]++
		if dl != nil {
			return dl.Write(deadletter.NewRecord(reason, detail, pos, raw))
		}
		return nil
	}

	out := bufio.NewWriterSize(orDiscard(opts.Out), 64<<10)
	var outErr error
	var alertBuf []byte
	emit := func(a *detect.Alert) {
		sum.Alerts++
		alertBuf = a.AppendJSON(alertBuf[:0])
		alertBuf = append(alertBuf, '\n')
		if _, err := out.Write(alertBuf); err != nil && outErr == nil {
			outErr = err
		}
		if opts.OnAlert != nil {
			opts.OnAlert(a)
		}
	}
	var lateErr error
	onLate := func(ev *ingest.Event) {
		raw, _ := json.Marshal(eventJSON(ev))
		detail := "event time " + ev.Time.UTC().Format(time.RFC3339) + " is behind the watermark: its window had closed"
		if err := reject(ingest.ReasonLate, detail, ev.Pos, raw); err != nil && lateErr == nil {
			lateErr = err
		}
	}
	var eng detector
	if opts.Partitions > 0 {
		var pe *partitioned
		pe, err = newPartitioned(opts.Partitions, opts.Detect, opts.Baseline, emit, detect.WithLogger(log), detect.WithLateHandler(onLate))
		if pe != nil {
			pe.by = opts.PartitionBy
		}
		eng = pe
	} else {
		eng, err = detect.New(opts.Detect, store, emit, detect.WithLogger(log), detect.WithLateHandler(onLate))
	}
	if err != nil {
		return nil, err
	}
	defer eng.Close()

	principals := make(map[string]struct{})
	var total int64 = 0
	for _, u := range units {
		if u.Size < 0 {
			total = -1
			break
		}
		total += u.Size
	}
	if len(kafkaIns) > 0 {
		total = -1 // a topic's size in bytes is not known up front
	}
	prog := newProgress(opts.Progress, total, opts.Now)
	newDec := func() source.DecodeFunc {
		d, _ := decode.New(opts.Decode) // validated above
		return d.Decode
	}
	consume := func(c *source.Chunk) error {
		sum.Bytes += c.Bytes
		for i := range c.Events {
			ev := &c.Events[i]
			if _, ok := principals[ev.Principal.Key]; !ok {
				principals[ev.Principal.Key] = struct{}{}
			}
			eng.Process(ev)
		}
		sum.Decoded += int64(len(c.Events))
		sum.Insights += int64(len(c.Insights))
		sum.Records += int64(len(c.Events) + len(c.Insights) + len(c.Rejects))
		for i := range c.Rejects {
			r := &c.Rejects[i]
			if err := reject(r.Reason, r.Detail, r.Pos, r.Raw); err != nil {
				return err
			}
		}
		for reason, n := range c.Skips {
			sum.Skipped[string(reason)] += n
			if isRecordSkip(reason) {
				sum.Records += n
			}
		}
		if c.Err != nil {
			sum.InputErrors++
			log.Warn("input stopped early; going on with the next", zap.String("input", c.Name), zap.Error(c.Err))
			at := ingest.FilePos(c.Name)
			var se *ingest.StreamError
			if errors.As(c.Err, &se) {
				at = se.Pos // where the stream broke
			}
			if err := reject(decode.ReasonOf(c.Err), c.Err.Error(), at, nil); err != nil {
				return err
			}
		}
		if outErr != nil {
			return fmt.Errorf("write alerts: %w", outErr)
		}
		if lateErr != nil {
			return lateErr
		}
		prog.update(sum.Records, sum.Bytes)
		return nil
	}
	if len(units) > 0 {
		if err := source.Read(ctx, units, newDec, source.Options{Parallelism: opts.Parallelism}, consume); err != nil {
			return nil, err
		}
	}
	for i, in := range kafkaIns {
		if err := readKafka(ctx, len(units)+i, in, opts.Kafka, msgDec, kafkaChunkEvents, consume); err != nil {
			return nil, err
		}
	}
	eng.Flush()
	prog.done()
	if err := eng.Close(); err != nil {
		return nil, err
	}
	if lateErr != nil {
		return nil, lateErr
	}
	if err := out.Flush(); err != nil {
		return nil, fmt.Errorf("write alerts: %w", err)
	}
	if outErr != nil {
		return nil, fmt.Errorf("write alerts: %w", outErr)
	}
	if dl != nil {
		if err := dl.Close(); err != nil {
			return nil, err
		}
	}
	if opts.StateFile != "" {
		if err := store.WriteSnapshot(opts.StateFile); err != nil {
			return nil, fmt.Errorf("save state: %w", err)
		}
	}
	sum.Principals = int64(len(principals))
	sum.Seconds = opts.Now().Sub(start).Seconds()
	if opts.SummaryJSON != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(opts.SummaryJSON, append(b, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("write summary: %w", err)
		}
	}
	return sum, nil
}

// kafkaChunkEvents bounds the events of a Kafka input held before they go to
// detection, as source.Options.ChunkEvents does for files.
const kafkaChunkEvents = 4096

// isRecordSkip says whether a skip stands for a record (NODATA, SKIPDATA) as
// opposed to framing (headers, blank lines, control messages).
func isRecordSkip(r ingest.Reason) bool {
	return r == ingest.SkipNoData || r == ingest.SkipSkipData || r == ingest.SkipExcludedPeer
}

func enumerate(ctx context.Context, opts *Options) ([]source.Unit, error) {
	var units []source.Unit
	var local []string
	flush := func() error {
		if len(local) == 0 {
			return nil
		}
		us, err := source.LocalUnits(local, opts.Stdin)
		if err != nil {
			return err
		}
		units = append(units, us...)
		local = local[:0]
		return nil
	}
	for _, in := range opts.Inputs {
		if !strings.HasPrefix(in, "s3://") {
			local = append(local, in)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		if opts.S3 == nil {
			if opts.NewS3 == nil {
				return nil, errors.New("s3 input given but no S3 client configured")
			}
			c, err := opts.NewS3(ctx)
			if err != nil {
				return nil, err
			}
			opts.S3 = c
		}
		us, err := source.S3Units(ctx, opts.S3, in, opts.S3Range)
		if err != nil {
			return nil, err
		}
		units = append(units, us...)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	source.SortByKeyTime(units)
	return units, nil
}

// openStore restores the baseline from path, or starts empty when path is
// empty or does not exist yet. Any other problem with the file is an error:
// a corrupt snapshot must never turn into a silently empty baseline.
func openStore(path string, opts baseline.Options, window time.Duration) (*baseline.Store, error) {
	if window > 0 {
		opts.Window = window
	}
	if path == "" {
		return baseline.New(opts), nil
	}
	s, err := baseline.Restore(path, opts)
	if errors.Is(err, fs.ErrNotExist) {
		return baseline.New(opts), nil
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// eventJSON is the normalized event as kept for a late event's dead letter.
func eventJSON(ev *ingest.Event) map[string]any {
	m := map[string]any{
		"time": ev.Time.UTC().Format(time.RFC3339Nano), "source": ev.Source.String(),
		"principal": ev.Principal.Key, "principal_type": ev.Principal.Type.String(),
		"account": ev.Principal.Account, "position": ev.Pos.String(),
	}
	if ev.Action != "" {
		m["action"] = ev.Action
	}
	if ev.ErrorCode != "" {
		m["error_code"] = ev.ErrorCode
	}
	if ev.EventID != "" {
		m["event_id"] = ev.EventID
	}
	if ev.EgressBytes > 0 {
		m["egress_bytes"] = ev.EgressBytes
	}
	if ev.PeerAddr.IsValid() {
		m["peer"] = ev.PeerAddr.String()
		m["peer_port"] = ev.PeerPort
	}
	return m
}
