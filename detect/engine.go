package detect

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// Option configures an Engine beyond its Config.
type Option func(*options)

type options struct {
	log       *zap.Logger
	late      func(*ingest.Event)
	immediate bool
}

// WithImmediateEmit makes the engine emit each alert as soon as a worker
// detects it instead of buffering alerts until the next window close. The
// live service uses it so that an alert is not held back by up to a window
// plus the allowed lateness. Alert ids and contents are unchanged; only the
// order of emission across principals then depends on worker scheduling, so
// replays, which must be byte-identical, keep the default. emit is still
// called from one goroutine at a time.
func WithImmediateEmit() Option { return func(o *options) { o.immediate = true } }

// WithLogger sets the logger; nil means zap.NewNop().
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithLateHandler sets a callback for late events (their window had already
// closed). It runs on the goroutine that calls Process, with an event that is
// valid only during the call; the pipeline uses it to dead-letter the event
// with ingest.ReasonLate.
func WithLateHandler(fn func(*ingest.Event)) Option { return func(o *options) { o.late = fn } }

// EngineStats are the engine's counters. Alert counts are as emitted, so
// after Flush they are as deterministic as the alerts themselves.
type EngineStats struct {
	Events             uint64                      // events routed to a worker
	Ignored            uint64                      // events that add to no metric (no principal key, zero-byte flows, unknown source)
	Late               uint64                      // events whose window had closed
	Rejected           uint64                      // events the baseline store refused (see baseline.Observation.Rejected)
	Rounds             uint64                      // close markers completed
	WindowsClosed      uint64                      // principal-windows folded into baselines
	Unscored           uint64                      // updates not scored: too little history and no mature peer group
	Alerts             uint64                      // alerts emitted
	AlertsByMetric     [baseline.NumMetrics]uint64 // alerts emitted, by baseline.Metric
	PeerAlerts         uint64                      // alerts emitted that were scored against a peer group
	SuppressedConfig   uint64                      // alerts matched by a suppress rule
	SuppressedCooldown uint64                      // alerts merged into an earlier one by the cooldown
	Watermark          time.Time                   // newest event time minus allowed lateness; zero before any event
	ClosedThrough      time.Time                   // end of the newest closed window; zero before any close
}

// Merge adds b's counters to s, for callers that run one engine per
// partition; the watermark and ClosedThrough become the older of the two
// (what every engine has reached), a zero time meaning none.
func (s *EngineStats) Merge(b EngineStats) {
	s.Events += b.Events
	s.Ignored += b.Ignored
	s.Late += b.Late
	s.Rejected += b.Rejected
	s.Rounds += b.Rounds
	s.WindowsClosed += b.WindowsClosed
	s.Unscored += b.Unscored
	s.Alerts += b.Alerts
	for m := range s.AlertsByMetric {
		s.AlertsByMetric[m] += b.AlertsByMetric[m]
	}
	s.PeerAlerts += b.PeerAlerts
	s.SuppressedConfig += b.SuppressedConfig
	s.SuppressedCooldown += b.SuppressedCooldown
	s.Watermark = oldestTime(s.Watermark, b.Watermark)
	s.ClosedThrough = oldestTime(s.ClosedThrough, b.ClosedThrough)
}

func oldestTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// counters is a worker's share of EngineStats, padded so that workers do not
// share cache lines.
type counters struct {
	windowsClosed      atomic.Uint64
	rejected           atomic.Uint64
	unscored           atomic.Uint64
	suppressedConfig   atomic.Uint64
	suppressedCooldown atomic.Uint64
	_                  [64]byte
}

// item is one entry of a worker's input: an event, or a close marker.
type item struct {
	ev    ingest.Event
	w     int64
	delta baseline.Values
	round *round // non-nil: close marker
}

// round is one close marker, shared by every worker; the last worker to
// reach it finishes it (merges peers, emits alerts) and closes done.
type round struct {
	through int64 // close every window <= through
	barrier bool  // Sync: close nothing, only wait and release alerts
	pending atomic.Int32
	done    chan struct{}
}

// Engine scores events as they arrive; see the package documentation.
type Engine struct {
	cfg      Config
	store    *baseline.Store
	emit     func(*Alert)
	log      *zap.Logger
	late     func(*ingest.Event)
	winSecs  int64
	minSigma [baseline.NumMetrics]float64
	minExc   [baseline.NumMetrics]float64
	peerBeta float64

	// Sequencer state, owned by the goroutine calling Process.
	haveMax  bool
	maxTime  time.Time
	closed   int64 // newest closed window index; math.MinInt64 before any
	maxWin   int64 // newest window routed
	haveWin  bool
	batches  [][]item
	last     *round // newest close marker sent
	isClosed bool

	workers []*worker
	wg      sync.WaitGroup

	// State export (state.go), owned by the sequencer like the fields above.
	started   bool // Process, Observe or Flush has run: RestoreState is refused
	tracking  bool // workers and store report changed principals for Changes
	restoring bool // RestoreState has run and finishRestore has not
	enc       stateEncoder
	keyBuf    []string

	// Written only by the finisher of a round, while every worker waits at
	// the barrier; read by workers between barriers.
	peers   map[groupKey]*peerStats
	contrib []shardContrib // per logical shard, written by its worker at close

	events, ignored, lateN, rounds atomic.Uint64
	alerts, peerAlerts             atomic.Uint64
	byMetric                       [baseline.NumMetrics]atomic.Uint64
	watermark, closedThrough       atomic.Int64 // unix nanos; math.MinInt64 when unset

	closeOnce sync.Once

	immediate bool
	emitMu    sync.Mutex // serializes emit in immediate mode
	syncs     atomic.Uint64
}

// New returns an engine that folds windows into store and hands alerts to
// emit. Alerts are detected at the crossing event and released at the next
// window close (or Flush), sorted; emit is called from one goroutine at a
// time, in output order, and must not call back into the engine. cfg is validated after defaults are filled
// in for settings whose zero value is invalid.
func New(cfg Config, store *baseline.Store, emit func(*Alert), opts ...Option) (*Engine, error) {
	if store == nil {
		return nil, ErrNilStore
	}
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Suppress = slices.Clone(cfg.Suppress)
	if sw := store.Options().Window; sw != cfg.Window {
		return nil, fmt.Errorf("%w: store %s, config %s", ErrWindowMismatch, sw, cfg.Window)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	if emit == nil {
		emit = func(*Alert) {}
	}
	p := min(cfg.Parallelism, store.NumShards())
	e := &Engine{
		cfg:      cfg,
		store:    store,
		emit:     emit,
		log:      o.log,
		late:     o.late,
		winSecs:  int64(cfg.Window / time.Second),
		minSigma: cfg.MinSigma.array(),
		minExc:   cfg.MinExcess.array(),
		peerBeta: baseline.NewDecay(cfg.PeerHalfLife, cfg.Window).Beta,
		closed:   math.MinInt64,
		batches:  make([][]item, p),
		peers:    make(map[groupKey]*peerStats),
		contrib:  make([]shardContrib, store.NumShards()),

		immediate: o.immediate,
	}
	e.watermark.Store(math.MinInt64)
	e.closedThrough.Store(math.MinInt64)
	e.log.Debug("detect engine started", zap.Int("parallelism", p), zap.Duration("window", cfg.Window),
		zap.Duration("allowed_lateness", cfg.AllowedLateness), zap.Float64("sigma", cfg.Sigma))
	for i := range p {
		wk := newWorker(e, i, p)
		e.workers = append(e.workers, wk)
		e.wg.Add(1)
		go wk.run(&e.wg)
	}
	return e, nil
}

// Config returns the configuration in force, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// windowOf returns the index of the window holding t. Whole seconds avoid
// UnixNano, which is undefined outside 1678..2262.
func (e *Engine) windowOf(t time.Time) int64 { return floorDiv(t.Unix(), e.winSecs) }

func (e *Engine) windowStart(w int64) time.Time { return time.Unix(w*e.winSecs, 0).UTC() }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// deltaOf returns what ev adds to each metric, and false if it adds nothing.
func deltaOf(ev *ingest.Event) (d baseline.Values, ok bool) {
	if ev.Principal.Key == "" {
		return d, false
	}
	switch ev.Source {
	case ingest.SourceCloudTrail:
		d[baseline.APICalls] = 1
		if ev.ErrorCode != "" {
			d[baseline.APIErrors] = 1
		}
		d[baseline.EgressBytes] = float64(ev.EgressBytes)
		return d, true
	case ingest.SourceVPCFlow:
		d[baseline.EgressBytes] = float64(ev.EgressBytes)
		return d, ev.EgressBytes > 0
	}
	return d, false
}

// Process takes the next event in input order. It must be called from one
// goroutine; ev may be reused after it returns.
func (e *Engine) Process(ev *ingest.Event) {
	if e.isClosed {
		return
	}
	e.start()
	delta, ok := deltaOf(ev)
	if !ok {
		e.ignored.Add(1)
		return
	}
	w, late := e.advance(ev.Time)
	if late {
		e.lateN.Add(1)
		if e.late != nil {
			e.late(ev)
		}
		return
	}
	e.events.Add(1)
	wi := e.workerOf(e.store.ShardOf(ev.Principal.Key))
	b := e.batches[wi]
	if b == nil {
		b = e.workers[wi].getBatch()
	}
	b = append(b, item{ev: *ev, w: w, delta: delta})
	if len(b) >= e.cfg.BatchSize {
		e.workers[wi].in <- b
		b = nil
	}
	e.batches[wi] = b
}

// advance moves event time to an event at t, as Process does for every event
// that adds to a metric: it returns the event's window, or late if that
// window has closed (then nothing changes). A new newest event time moves
// the watermark and closes the windows it passed.
func (e *Engine) advance(t time.Time) (w int64, late bool) {
	w = e.windowOf(t)
	if w <= e.closed {
		return w, true
	}
	if !e.haveMax || t.After(e.maxTime) {
		e.haveMax = true
		e.maxTime = t
		wm := t.Add(-e.cfg.AllowedLateness)
		e.watermark.Store(clampNanos(wm))
		if through := e.windowOf(wm) - 1; through > e.closed {
			if e.haveWin && e.maxWin > e.closed {
				e.closeThrough(through)
			} else {
				// Nothing is open, so nothing to fold and no alert pending.
				e.markClosed(through)
			}
		}
	}
	if !e.haveWin || w > e.maxWin {
		e.haveWin, e.maxWin = true, w
	}
	return w, false
}

func (e *Engine) workerOf(shard int) int { return shard % len(e.workers) }

// closeThrough sends a close marker for every window <= through to every
// worker and records that those windows are closed.
func (e *Engine) closeThrough(through int64) *round {
	r := &round{through: through, done: make(chan struct{})}
	r.pending.Store(int32(len(e.workers)))
	for i, wk := range e.workers {
		b := e.batches[i]
		if b == nil {
			b = wk.getBatch()
		}
		wk.in <- append(b, item{round: r})
		e.batches[i] = nil
	}
	e.markClosed(through)
	e.last = r
	return r
}

func (e *Engine) markClosed(through int64) {
	e.closed = through
	e.closedThrough.Store(clampNanos(e.windowStart(through + 1)))
}

// Flush closes every open window, emits every pending alert and returns when
// they have been emitted. Events for windows it closed are late afterwards.
func (e *Engine) Flush() {
	if e.isClosed {
		return
	}
	e.start()
	if e.haveWin && e.maxWin > e.closed {
		e.closeThrough(e.maxWin)
	}
	if e.last != nil {
		<-e.last.done
	}
}

// Sync hands every event passed to Process so far to the workers and returns
// when they have all been applied to the store and every alert they caused
// has been emitted (in the default mode, alerts detected since the last
// window close are released, sorted, as at a close). It closes no window and
// changes no state, so the caller can snapshot the store, which is then
// consistent with exactly the events processed before Sync, or know that
// the alerts of those events have been handed on. Like Process it must be
// called from the goroutine that calls Process.
func (e *Engine) Sync() {
	if e.isClosed {
		return
	}
	r := &round{barrier: true, done: make(chan struct{})}
	r.pending.Store(int32(len(e.workers)))
	for i, wk := range e.workers {
		b := e.batches[i]
		if b == nil {
			b = wk.getBatch()
		}
		wk.in <- append(b, item{round: r})
		e.batches[i] = nil
	}
	e.last = r
	<-r.done
	e.syncs.Add(1)
}

// Close stops the workers; it is idempotent. Windows still open are not
// emitted: call Flush first for that. Close must not run concurrently with
// Process or Flush.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.isClosed = true
		for _, wk := range e.workers {
			close(wk.in)
		}
		e.wg.Wait()
	})
	return nil
}

// Run processes events from in until it is closed, then flushes and returns
// nil; or until ctx is done, returning ctx.Err() without flushing. Whoever
// feeds in closes it.
func (e *Engine) Run(ctx context.Context, in <-chan ingest.Event) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-in:
			if !ok {
				e.Flush()
				return nil
			}
			e.Process(&ev)
		}
	}
}

// Stats returns the counters; it is safe to call from any goroutine.
func (e *Engine) Stats() EngineStats {
	s := EngineStats{
		Events:     e.events.Load(),
		Ignored:    e.ignored.Load(),
		Late:       e.lateN.Load(),
		Rounds:     e.rounds.Load(),
		Alerts:     e.alerts.Load(),
		PeerAlerts: e.peerAlerts.Load(),
	}
	for m := range s.AlertsByMetric {
		s.AlertsByMetric[m] = e.byMetric[m].Load()
	}
	for _, wk := range e.workers {
		s.WindowsClosed += wk.n.windowsClosed.Load()
		s.Rejected += wk.n.rejected.Load()
		s.Unscored += wk.n.unscored.Load()
		s.SuppressedConfig += wk.n.suppressedConfig.Load()
		s.SuppressedCooldown += wk.n.suppressedCooldown.Load()
	}
	if n := e.watermark.Load(); n != math.MinInt64 {
		s.Watermark = time.Unix(0, n).UTC()
	}
	if n := e.closedThrough.Load(); n != math.MinInt64 {
		s.ClosedThrough = time.Unix(0, n).UTC()
	}
	return s
}

func clampNanos(t time.Time) int64 {
	const lo, hi = -1 << 62, 1 << 62 // about 1823..2116; beyond that the stat saturates
	switch {
	case t.Before(time.Unix(0, lo)):
		return lo
	case t.After(time.Unix(0, hi)):
		return hi
	}
	return t.UnixNano()
}

// finishRound runs on the last worker to reach r, while all others wait.
func (e *Engine) finishRound(r *round) {
	if !r.barrier {
		mergePeers(e.peers, e.contrib, e.peerBeta)
	}
	var out []*Alert
	for _, wk := range e.workers {
		out = append(out, wk.pending...)
		clear(wk.pending)
		wk.pending = wk.pending[:0]
	}
	slices.SortFunc(out, compareAlerts)
	for _, a := range out {
		e.release(a)
	}
	if r.barrier {
		return
	}
	e.rounds.Add(1)
	if len(out) > 0 {
		e.log.Debug("alerts released", zap.Int("alerts", len(out)), zap.Int64("through_window", r.through))
	}
}

// release counts and emits one alert.
func (e *Engine) release(a *Alert) {
	e.alerts.Add(1)
	if m, ok := baseline.ParseMetric(a.Metric); ok {
		e.byMetric[m].Add(1)
	}
	if a.PeerGroup != "" {
		e.peerAlerts.Add(1)
	}
	e.emit(a)
}

// releaseNow emits an alert from a worker in immediate mode.
func (e *Engine) releaseNow(a *Alert) {
	e.emitMu.Lock()
	defer e.emitMu.Unlock()
	e.release(a)
}

// compareAlerts is the output order: detected_at, principal, metric, window.
func compareAlerts(a, b *Alert) int {
	if c := a.detected.Compare(b.detected); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Principal, b.Principal); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Metric, b.Metric); c != 0 {
		return c
	}
	return cmp.Compare(a.window, b.window)
}
