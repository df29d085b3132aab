package detect

import (
	"math"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// worker owns the logical shards s with s % P == id: their baseline updates,
// their per-principal window state and their share of every close.
type worker struct {
	e     *Engine
	id, p int
	in    chan []item
	free  chan []item

	states  map[string]*pstate // principals with an open window or a running cooldown
	cooling []string           // keys with no open window whose cooldown may still run
	winPool []*winState
	pending []*Alert // alerts detected since the last close marker

	curShard int
	closeFn  func(*baseline.Closed)

	// Change tracking for Engine.Changes (state.go): written by this worker
	// while it runs, by the sequencer only between a Sync and the next batch.
	track bool
	dirty map[string]struct{} // principals whose state changed since the last Changes

	n counters
}

// pstate is what the detector keeps about a principal while it matters.
type pstate struct {
	wins      []winRef                       // open windows in order of first activity; the current one is usually last
	firstSent [baseline.NumMetrics]time.Time // detected_at of the alert that started the cooldown; zero if none
	cooling   bool                           // listed in worker.cooling
	dirty     bool                           // listed in worker.dirty
}

// winRef keeps the window index beside the pointer so that finding the
// window touches one cache line, not one per open window.
type winRef struct {
	w  int64
	ws *winState
}

// winState explains one principal's open window.
type winState struct {
	w        int64
	alerted  [baseline.NumMetrics]bool // fired (or was suppressed) in this window
	calls    sketch                    // actions
	errors   sketch                    // actions with error code
	egress   sketch                    // S3 actions or flow destinations
	evidence [baseline.NumMetrics][]string
}

const queueDepth = 4

func newWorker(e *Engine, id, p int) *worker {
	wk := &worker{
		e:      e,
		id:     id,
		p:      p,
		in:     make(chan []item, queueDepth),
		free:   make(chan []item, queueDepth+2),
		states: make(map[string]*pstate),
		dirty:  make(map[string]struct{}),
	}
	wk.closeFn = wk.closed
	return wk
}

// getBatch is called by the sequencer: a recycled batch if there is one.
func (wk *worker) getBatch() []item {
	select {
	case b := <-wk.free:
		return b
	default:
		return make([]item, 0, wk.e.cfg.BatchSize+1)
	}
}

func (wk *worker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for b := range wk.in {
		for i := range b {
			if r := b[i].round; r != nil {
				wk.close(r)
			} else {
				wk.event(&b[i])
			}
		}
		clear(b) // drop references to event strings
		select {
		case wk.free <- b[:0]:
		default:
		}
	}
}

func (wk *worker) state(key string) *pstate {
	ps := wk.states[key]
	if ps == nil {
		ps = &pstate{}
		wk.states[key] = ps
	}
	return ps
}

func (ps *pstate) window(wk *worker, w int64) *winState {
	for i := len(ps.wins) - 1; i >= 0; i-- {
		if ps.wins[i].w == w {
			return ps.wins[i].ws
		}
	}
	var ws *winState
	if n := len(wk.winPool); n > 0 {
		ws = wk.winPool[n-1]
		wk.winPool = wk.winPool[:n-1]
	} else {
		ws = &winState{}
		n := wk.e.cfg.Evidence
		ev := make([]string, 0, int(baseline.NumMetrics)*n)
		for m := range ws.evidence {
			ws.evidence[m] = ev[m*n : m*n : (m+1)*n]
		}
	}
	ws.w = w
	ps.wins = append(ps.wins, winRef{w: w, ws: ws})
	return ws
}

func (wk *worker) release(ws *winState) {
	ws.alerted = [baseline.NumMetrics]bool{}
	ws.calls.reset()
	ws.errors.reset()
	ws.egress.reset()
	for m := range ws.evidence {
		clear(ws.evidence[m])
		ws.evidence[m] = ws.evidence[m][:0]
	}
	clear(ws.calls.c[:cap(ws.calls.c)])
	clear(ws.errors.c[:cap(ws.errors.c)])
	clear(ws.egress.c[:cap(ws.egress.c)])
	if len(wk.winPool) < 4096 {
		wk.winPool = append(wk.winPool, ws)
	}
}

// event applies one event: baseline update, explanation, early scoring.
func (wk *worker) event(it *item) {
	e := wk.e
	ev := &it.ev
	key := ev.Principal.Key
	meta := baseline.Meta{Type: uint8(ev.Principal.Type), Account: ev.Principal.Account}
	obs := e.store.Add(key, meta, it.w, it.delta)
	if obs.Rejected {
		// The store recorded nothing (key too long, shard full of open
		// principals): there is no window to explain or score.
		wk.n.rejected.Add(1)
		return
	}

	ps := wk.state(key)
	if wk.track && !ps.dirty {
		ps.dirty = true
		wk.touch(key, false)
	}
	ws := ps.window(wk, it.w)
	k := e.cfg.TopK
	if ev.Source == ingest.SourceCloudTrail {
		ws.calls.add(topKey{a: ev.Action}, 1, k)
		if it.delta[baseline.APIErrors] > 0 {
			ws.errors.add(topKey{a: ev.Action, b: ev.ErrorCode}, 1, k)
		}
		if it.delta[baseline.EgressBytes] > 0 {
			ws.egress.add(topKey{a: ev.Action}, it.delta[baseline.EgressBytes], k)
		}
	} else {
		ws.egress.add(topKey{addr: ev.PeerAddr, port: ev.PeerPort}, it.delta[baseline.EgressBytes], k)
	}
	var evid string
	for m := range baseline.NumMetrics {
		if it.delta[m] > 0 && len(ws.evidence[m]) < e.cfg.Evidence {
			if evid == "" {
				evid = evidenceOf(ev)
			}
			ws.evidence[m] = append(ws.evidence[m], evid)
		}
	}

	// Own baseline once it is long enough, else the peer group as of the
	// last close, else nothing.
	var peer *peerStats
	var group groupKey
	hist := obs.Baseline[baseline.APICalls].Windows
	own := int(hist) >= e.cfg.MinHistory
	if !own {
		group = groupKey{account: obs.Meta.Account, typ: obs.Meta.Type}
		peer = e.peers[group]
		if peer == nil || peer.windows < e.cfg.PeerMinWindows || peer.samples < int64(e.cfg.PeerMinSamples) {
			wk.n.unscored.Add(1)
			return
		}
	}
	for m := range baseline.NumMetrics {
		if it.delta[m] <= 0 || ws.alerted[m] {
			continue
		}
		var mean, sd float64
		if own {
			b := &obs.Baseline[m]
			mean, sd = b.Mean, b.StdDev()
		} else {
			mean, sd = peer.mean[m], peer.stddev(m)
		}
		x := obs.Running[m]
		z, sigma, thr, fire := e.score(m, x, mean, sd)
		if !fire {
			continue
		}
		ws.alerted[m] = true
		if e.suppressed(key, obs.Meta.Account, m) {
			wk.n.suppressedConfig.Add(1)
			continue
		}
		if first := ps.firstSent[m]; !first.IsZero() && withinCooldown(ev.Time, first, e.cfg.Cooldown) {
			wk.n.suppressedCooldown.Add(1)
			continue
		}
		ps.firstSent[m] = ev.Time
		a := wk.alert(ev, ws, m, x, mean, sigma, z, thr, int(hist), evid)
		if !own {
			a.PeerGroup = group.String()
		}
		if e.immediate {
			e.releaseNow(a)
			continue
		}
		wk.pending = append(wk.pending, a)
	}
}

// withinCooldown reports whether t is less than cooldown from the alert that
// opened it, on either side: with out-of-order delivery an earlier window of
// the same incident can cross after a later one.
func withinCooldown(t, first time.Time, cooldown time.Duration) bool {
	d := t.Sub(first)
	if d < 0 {
		d = -d
	}
	return d < cooldown
}

// score applies the 3-sigma test with its floors.
func (e *Engine) score(m baseline.Metric, x, mean, sd float64) (z, sigma, threshold float64, fire bool) {
	sigma = max(sd, e.minSigma[m])
	if m.IsCount() && mean > 0 {
		sigma = max(sigma, math.Sqrt(mean))
	}
	z = (x - mean) / sigma
	threshold = max(mean+e.cfg.Sigma*sigma, mean+e.minExc[m])
	fire = z >= e.cfg.Sigma && x-mean >= e.minExc[m]
	return z, sigma, threshold, fire
}

func (e *Engine) suppressed(key, account string, m baseline.Metric) bool {
	for i := range e.cfg.Suppress {
		if e.cfg.Suppress[i].matches(key, account, m) {
			return true
		}
	}
	return false
}

func evidenceOf(ev *ingest.Event) string {
	if ev.EventID != "" {
		return ev.EventID
	}
	return ev.Pos.String()
}

func (wk *worker) alert(ev *ingest.Event, ws *winState, m baseline.Metric, x, mean, sigma, z, thr float64, hist int, evid string) *Alert {
	e := wk.e
	start := e.windowStart(ws.w)
	a := &Alert{
		Principal:       ev.Principal.Key,
		PrincipalType:   ev.Principal.Type.String(),
		Account:         ev.Principal.Account,
		Source:          ev.Source.String(),
		Metric:          m.String(),
		WindowStart:     start.Format(time.RFC3339),
		WindowEnd:       start.Add(e.cfg.Window).Format(time.RFC3339),
		Observed:        x,
		Mean:            mean,
		StdDev:          sigma,
		ZScore:          z,
		Threshold:       thr,
		Severity:        e.cfg.Severity.Of(z),
		BaselineWindows: hist,
		DetectedAt:      ev.Time.UTC().Format(time.RFC3339Nano),
		detected:        ev.Time,
		window:          ws.w,
	}
	a.ID = AlertID(a.Principal, a.Metric, a.WindowStart)
	var sk *sketch
	switch m {
	case baseline.APICalls:
		sk = &ws.calls
	case baseline.APIErrors:
		sk = &ws.errors
	default:
		sk = &ws.egress
	}
	a.Top = sk.top(e.cfg.TopN, x)
	a.Evidence = append(make([]string, 0, len(ws.evidence[m])+1), ws.evidence[m]...)
	if evid == "" {
		evid = evidenceOf(ev)
	}
	crossing := false
	for _, id := range a.Evidence {
		if id == evid {
			crossing = true
			break
		}
	}
	if !crossing {
		a.Evidence = append(a.Evidence, evid)
	}
	return a
}

// close handles a close marker: fold this worker's shards, then meet the
// other workers at the barrier.
func (wk *worker) close(r *round) {
	e := wk.e
	if r.barrier {
		if r.pending.Add(-1) == 0 {
			e.finishRound(r)
			close(r.done)
			return
		}
		<-r.done
		return
	}
	for s := wk.id; s < e.store.NumShards(); s += wk.p {
		wk.curShard = s
		e.store.CloseWindow(s, r.through, wk.closeFn)
	}
	wk.sweep(e.windowStart(r.through + 1))
	if r.pending.Add(-1) == 0 {
		e.finishRound(r)
		close(r.done)
		return
	}
	<-r.done
}

// closed is the store's callback for one principal-window being folded.
func (wk *worker) closed(c *baseline.Closed) {
	wk.n.windowsClosed.Add(1)
	wk.e.contrib[wk.curShard].add(groupWindow{g: groupKey{account: c.Meta.Account, typ: c.Meta.Type}, w: c.Window}, &c.Values)
	ps := wk.states[c.Key]
	if wk.track {
		wk.touch(c.Key, true) // the fold changes the store's statistics
		if ps != nil {
			ps.dirty = true
		}
	}
	if ps == nil {
		return
	}
	for i, r := range ps.wins {
		if r.w == c.Window {
			n := copy(ps.wins[i:], ps.wins[i+1:])
			ps.wins[i+n] = winRef{}
			ps.wins = ps.wins[:i+n]
			wk.release(r.ws)
			break
		}
	}
	if len(ps.wins) == 0 && !ps.cooling {
		ps.cooling = true
		wk.cooling = append(wk.cooling, c.Key)
	}
}

// sweep forgets principals with no open window whose cooldowns have ended by
// the close boundary: no event that is not late can fall inside them.
func (wk *worker) sweep(boundary time.Time) {
	keep := wk.cooling[:0]
	for _, key := range wk.cooling {
		ps := wk.states[key]
		if ps == nil {
			continue
		}
		if len(ps.wins) > 0 {
			ps.cooling = false // back in use; listed again when its windows close
			continue
		}
		running := false
		for _, t := range ps.firstSent {
			if !t.IsZero() && t.Add(wk.e.cfg.Cooldown).After(boundary) {
				running = true
				break
			}
		}
		if running {
			keep = append(keep, key)
			continue
		}
		delete(wk.states, key)
		if wk.track {
			wk.touch(key, true)
		}
	}
	clear(wk.cooling[len(keep):])
	wk.cooling = keep
}
