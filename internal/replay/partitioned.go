package replay

// Replay with the per-partition state layout of the scale-out service.
//
// The scale-out service keys normalized events by canonical principal onto an
// events topic with N partitions and runs one detection engine, with its own
// baseline store, per partition. Peer groups, the watermark and window
// closing are therefore per partition: a principal's windows close when its
// partition's newest event says so, and it is compared with the peers that
// share its partition. Options.Partitions > 0 reproduces that layout so that
// a replay raises the alerts the scaled-out service would.
//
// # Output order and memory
//
// Each engine emits its alerts in its own deterministic order (sorted per
// window close), but when it closes windows depends on its own partition's
// events, and the N engines run concurrently, so the interleaving of their
// emissions is not deterministic. The partitioned replay therefore keeps
// every alert until the end of the input, then merges the N streams: a k-way
// merge that repeatedly takes the smallest head by the engine's output order
// (detected_at, principal, metric, window; ties, which cannot happen across
// partitions because a principal lives in one, go to the lower partition).
// Each engine's own order is kept, so with one partition the output is
// byte-identical to the single engine's; with any N it is byte-identical run
// after run whatever GOMAXPROCS.
//
// The cost is memory: every alert of the replay is held until the input
// ends (of the order of 1 KiB each with the default evidence and top-N), and
// Options.OnAlert sees them only then. Alerts are rare by design, so this is
// a few MiB for a typical replay; a replay expected to raise millions of
// alerts should be split by time.

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/internal/partition"
)

// MaxPartitions is the largest Options.Partitions: the service's own limit on
// the events topic's partition count.
const MaxPartitions = 4096

// Errors of Options.Partitions; match what Run returns with errors.Is.
var (
	// ErrPartitions: Options.Partitions is outside 0..MaxPartitions.
	ErrPartitions = errors.New("replay: partitions out of range")
	// ErrPartitionsWithState: Options.StateFile with Options.Partitions.
	// One snapshot holds one store; a partitioned replay has one store per
	// partition, and a single-engine snapshot restored into N of them would
	// be silently wrong.
	ErrPartitionsWithState = errors.New("replay: --state cannot be combined with --partitions (one snapshot holds one engine's baselines)")
)

// detector is what Run feeds: one detect.Engine, or one per partition.
type detector interface {
	Process(ev *ingest.Event) // from one goroutine, in input order
	Flush()                   // close every window and emit every alert
	Close() error             // stop; idempotent
}

var (
	_ detector = (*detect.Engine)(nil)
	_ detector = (*partitioned)(nil)
)

// checkPartitions validates the Partitions option against the rest.
func checkPartitions(opts *Options) error {
	if opts.Partitions < 0 || opts.Partitions > MaxPartitions {
		return fmt.Errorf("%w: %d, want 0..%d", ErrPartitions, opts.Partitions, MaxPartitions)
	}
	if opts.Partitions > 0 && opts.StateFile != "" {
		return ErrPartitionsWithState
	}
	return nil
}

// partitioned routes each event to the engine of its principal's partition
// and merges their alerts when the input ends (see the top of this file).
//
// An engine is started when its partition sees its first event: an engine
// with an empty store costs about 120 KiB (mostly the store's 256 padded
// shards), so 4096 of them would take half a GiB for a replay whose
// principals fill only a few partitions. An engine's output does not depend
// on when it starts, only on the events it is given.
type partitioned struct {
	engines []*detect.Engine // by partition; nil until the partition's first event
	// streams[i] is written only by engine i's emit (one goroutine at a
	// time) and read only after that engine's Flush has returned.
	streams [][]*detect.Alert
	emit    func(*detect.Alert)
	newEng  func(i int) (*detect.Engine, error)
	by      string // partition.ByPrincipal or partition.ByAccount
	err     error  // the first engine that failed to start; Close returns it
}

// newPartitioned prepares n engines, each as the service's stage 2 runs one:
// cfg with Parallelism 1 and its own empty store with storeOpts. Their
// alerts reach emit, merged, in Flush, on the goroutine that calls Flush.
// Partition 0's engine is started at once, so that a bad configuration is
// reported here.
func newPartitioned(n int, cfg detect.Config, storeOpts baseline.Options, emit func(*detect.Alert), opts ...detect.Option) (*partitioned, error) {
	if n < 1 || n > MaxPartitions {
		return nil, fmt.Errorf("%w: %d, want 1..%d", ErrPartitions, n, MaxPartitions)
	}
	if emit == nil {
		emit = func(*detect.Alert) {}
	}
	if cfg.Window > 0 {
		storeOpts.Window = cfg.Window
	}
	cfg.Parallelism = 1
	p := &partitioned{engines: make([]*detect.Engine, n), streams: make([][]*detect.Alert, n), emit: emit}
	p.newEng = func(i int) (*detect.Engine, error) {
		return detect.New(cfg, baseline.New(storeOpts), func(a *detect.Alert) {
			p.streams[i] = append(p.streams[i], a)
		}, opts...)
	}
	if _, err := p.engine(0); err != nil {
		return nil, err
	}
	return p, nil
}

// engine returns partition i's engine, starting it if need be.
func (p *partitioned) engine(i int) (*detect.Engine, error) {
	if eng := p.engines[i]; eng != nil {
		return eng, nil
	}
	eng, err := p.newEng(i)
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", i, err)
	}
	p.engines[i] = eng
	return eng, nil
}

// Process hands ev to its principal's partition. An event with no principal
// goes to the partition of the empty key, whose engine counts it as ignored,
// as the single engine does.
func (p *partitioned) Process(ev *ingest.Event) {
	eng, err := p.engine(partition.Of(partition.KeyOf(p.by, ev.Principal.Key, ev.Principal.Account), len(p.engines)))
	if err != nil {
		// Not expected: partition 0 started with the same configuration.
		if p.err == nil {
			p.err = err
		}
		return
	}
	eng.Process(ev)
}

// Flush closes every engine's windows, then emits all alerts of the replay
// in merged order. Call it once, at the end of the input: alerts are only
// merged here.
func (p *partitioned) Flush() {
	for _, eng := range p.engines {
		if eng != nil {
			eng.Flush()
		}
	}
	mergeStreams(p.streams, p.emit)
	clear(p.streams)
}

// Close stops every engine; it is idempotent. It returns the error of an
// engine that failed to start, if any did: the replay missed its events.
func (p *partitioned) Close() error {
	errs := []error{p.err}
	for _, eng := range p.engines {
		if eng != nil {
			errs = append(errs, eng.Close())
		}
	}
	return errors.Join(errs...)
}

// Stats sums the engines' counters. Watermark and ClosedThrough are the
// oldest over the partitions that have one: what every partition has reached.
func (p *partitioned) Stats() detect.EngineStats {
	var s detect.EngineStats
	for _, eng := range p.engines {
		if eng == nil {
			continue
		}
		s.Merge(eng.Stats())
	}
	return s
}

// mergeStreams emits the alerts of every stream, each stream in its own
// order, always taking the smallest head by alertOrder (the lower stream on
// a tie). It is deterministic given the streams.
func mergeStreams(streams [][]*detect.Alert, emit func(*detect.Alert)) {
	h := &heads{}
	for i, s := range streams {
		if len(s) > 0 {
			h.items = append(h.items, head{stream: i, key: orderKeyOf(s[0])})
		}
	}
	heap.Init(h)
	next := make([]int, len(streams))
	for h.Len() > 0 {
		top := &h.items[0]
		i := top.stream
		emit(streams[i][next[i]])
		streams[i][next[i]] = nil // let the alert go once it is written
		next[i]++
		if next[i] < len(streams[i]) {
			top.key = orderKeyOf(streams[i][next[i]])
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
}

// orderKey is an alert's place in detect's output order, rebuilt from its
// exported fields: detected_at, principal, metric, window. detected_at is
// the crossing event's time as RFC 3339 with nanoseconds and window_start the
// window's start, whole seconds, so parsing them back is exact for any time
// a timestamp parser accepts. A time outside years 0..9999 does not parse;
// such alerts sort after all others, by the text, which keeps the merge
// deterministic.
type orderKey struct {
	detected    time.Time
	detectedBad bool
	a           *detect.Alert
	window      time.Time
	windowBad   bool
}

func orderKeyOf(a *detect.Alert) orderKey {
	k := orderKey{a: a}
	var err error
	if k.detected, err = time.Parse(time.RFC3339Nano, a.DetectedAt); err != nil {
		k.detectedBad = true
	}
	if k.window, err = time.Parse(time.RFC3339, a.WindowStart); err != nil {
		k.windowBad = true
	}
	return k
}

// alertOrder compares like detect's compareAlerts.
func alertOrder(x, y *orderKey) int {
	if c := compareTime(x.detected, x.detectedBad, x.a.DetectedAt, y.detected, y.detectedBad, y.a.DetectedAt); c != 0 {
		return c
	}
	if c := cmp.Compare(x.a.Principal, y.a.Principal); c != 0 {
		return c
	}
	if c := cmp.Compare(x.a.Metric, y.a.Metric); c != 0 {
		return c
	}
	return compareTime(x.window, x.windowBad, x.a.WindowStart, y.window, y.windowBad, y.a.WindowStart)
}

func compareTime(x time.Time, xBad bool, xs string, y time.Time, yBad bool, ys string) int {
	switch {
	case xBad && yBad:
		return cmp.Compare(xs, ys)
	case xBad:
		return 1
	case yBad:
		return -1
	}
	return x.Compare(y)
}

// head is a stream's next alert in the merge.
type head struct {
	stream int
	key    orderKey
}

// heads is a min-heap of stream heads by alertOrder, then stream.
type heads struct{ items []head }

func (h *heads) Len() int { return len(h.items) }
func (h *heads) Less(i, j int) bool {
	if c := alertOrder(&h.items[i].key, &h.items[j].key); c != 0 {
		return c < 0
	}
	return h.items[i].stream < h.items[j].stream
}
func (h *heads) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *heads) Push(x any)    { h.items = append(h.items, x.(head)) }
func (h *heads) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items = h.items[:n]
	return x
}
