package detect

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// State export errors. RestoreState wraps one of the first three with the key
// and the place of the problem; match them with errors.Is.
var (
	// ErrStateVersion: a state value in a format version this build cannot read.
	ErrStateVersion = errors.New("detect: state format version not supported")
	// ErrStateCorrupt: a state value that is truncated, malformed or
	// contradicts itself.
	ErrStateCorrupt = errors.New("detect: state corrupt")
	// ErrStateIncompatible: engine state written by an engine whose baseline
	// store had another shard count, window or half-life.
	ErrStateIncompatible = errors.New("detect: state incompatible with the baseline store's options")
	// ErrRestoreStarted: RestoreState after Process, Observe or Flush.
	ErrRestoreStarted = errors.New("detect: state restored after processing started")
	// ErrEngineClosed: Changes, Export or RestoreState after Close.
	ErrEngineClosed = errors.New("detect: engine closed")
)

// Changes calls fn for every principal whose state changed since the previous
// call to Changes (or since the engine was restored), in sorted key order,
// with its encoded state; a nil value means the engine no longer keeps
// anything about the principal (evicted by IdleTTL or MaxPrincipals, cooldown
// over): write a tombstone. Finally it calls fn once with key "" and the
// engine's own state (event time, closed windows, peer-group statistics, the
// store's eviction and sweep positions). value is valid only during the call.
//
// The first call on an engine that was not restored reports every principal
// (as Export does) and starts the change tracking, which costs nothing before.
//
// Changes calls Sync first, so the state is that of exactly the events passed
// to Process so far, and their alerts have been emitted: a changelog written
// from it, and the input offset of the last event, are a consistent
// checkpoint. It must be called from the goroutine that calls Process, and
// fn must not call back into the engine. It fails only after Close.
func (e *Engine) Changes(fn func(key string, value []byte)) error {
	if e.isClosed {
		return ErrEngineClosed
	}
	e.Sync()
	if !e.tracking {
		e.startTracking()
		e.export(fn)
		return nil
	}
	keys := e.keyBuf[:0]
	for _, wk := range e.workers {
		for key := range wk.dirty {
			keys = append(keys, key)
			if ps := wk.states[key]; ps != nil {
				ps.dirty = false
			}
		}
		clear(wk.dirty)
	}
	slices.Sort(keys)
	e.writeKeys(keys, fn)
	clear(keys)
	e.keyBuf = keys[:0]
	return nil
}

// Export calls fn for every principal the engine keeps anything about, in
// sorted key order, and then for key "", with the same encoding as Changes: a
// full snapshot, from which RestoreState rebuilds the engine. Like Changes it
// calls Sync first and must be called from the goroutine that calls Process;
// it does not reset what the next Changes reports. It fails only after Close.
func (e *Engine) Export(fn func(key string, value []byte)) error {
	if e.isClosed {
		return ErrEngineClosed
	}
	e.Sync()
	e.export(fn)
	return nil
}

func (e *Engine) export(fn func(key string, value []byte)) {
	keys := e.store.AppendKeys(e.keyBuf[:0])
	for _, wk := range e.workers {
		for key := range wk.states {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	e.writeKeys(keys, fn)
	clear(keys[:cap(keys)])
	e.keyBuf = keys[:0]
}

// writeKeys encodes and hands on each key's state, then the engine's.
func (e *Engine) writeKeys(keys []string, fn func(key string, value []byte)) {
	buf := e.enc.buf
	for _, key := range keys {
		var ok bool
		buf, ok = e.appendPrincipal(buf[:0], key)
		if ok {
			fn(key, buf)
		} else {
			fn(key, nil)
		}
	}
	buf = e.appendEngineState(buf[:0])
	fn("", buf)
	e.enc.buf = buf[:0]
}

// RestoreState loads one key's state as written by Changes or Export: key ""
// is the engine's own state, any other key a principal's, and a nil value (a
// tombstone) forgets the principal. A later call for the same key replaces
// the earlier one, so a changelog may be replayed as it is, duplicates and
// tombstones included, in any order across keys. Call it only before the
// first Process, Observe or Flush (else ErrRestoreStarted), from the
// goroutine that will call Process, with an engine whose Config and store
// options are those of the writer.
//
// Errors wrap ErrStateVersion, ErrStateCorrupt or ErrStateIncompatible and
// leave the engine as it was. Values are checked for structure, not for
// consistency across keys. No input makes RestoreState panic or allocate
// much more than its size.
func (e *Engine) RestoreState(key string, value []byte) error {
	switch {
	case e.isClosed:
		return ErrEngineClosed
	case e.started:
		return ErrRestoreStarted
	}
	e.startTracking()
	if key == "" {
		if err := e.restoreEngine(value); err != nil {
			return fmt.Errorf("restore engine state: %w", err)
		}
		e.restoring = true
		return nil
	}
	if len(key) > baseline.MaxKeyLen {
		return fmt.Errorf("%w: principal key of %d bytes over limit", ErrStateCorrupt, len(key))
	}
	var ps *pstate
	var entry []byte
	if value != nil {
		var err error
		if ps, entry, err = e.decodePrincipal(value); err != nil {
			return fmt.Errorf("restore state of %q: %w", key, err)
		}
		if len(entry) == 0 {
			entry = nil
		}
	}
	if err := e.store.PutEntry(key, entry); err != nil {
		return storeError(fmt.Sprintf("restore state of %q", key), err)
	}
	wk := e.workers[e.workerOf(e.store.ShardOf(key))]
	if ps != nil {
		wk.states[strings.Clone(key)] = ps
	} else {
		delete(wk.states, key)
	}
	e.restoring = true
	return nil
}

// storeError maps a baseline error to this package's sentinels.
func storeError(what string, err error) error {
	sentinel := ErrStateCorrupt
	switch {
	case errors.Is(err, baseline.ErrSnapshotVersion):
		sentinel = ErrStateVersion
	case errors.Is(err, baseline.ErrSnapshotIncompatible):
		sentinel = ErrStateIncompatible
	}
	return fmt.Errorf("%w: %s: %w", sentinel, what, err)
}

// Observe advances event time exactly as Process(ev) would, without applying
// ev to any principal: the watermark moves and windows close as they would
// have. It is for events that restored state already reflects, when the
// input is replayed from an offset older than the state's; for those it
// changes nothing, and for newer ones it keeps event time, and so window
// closes and lateness, as in the uninterrupted run. Like Process it ignores
// events that add to no metric, and a late event is neither counted nor
// handed to the late handler. It must be called from the goroutine that
// calls Process.
func (e *Engine) Observe(ev *ingest.Event) {
	if e.isClosed {
		return
	}
	e.start()
	if _, ok := deltaOf(ev); !ok {
		return
	}
	e.advance(ev.Time)
}

// start is called by Process, Observe and Flush: RestoreState is over.
func (e *Engine) start() {
	if e.started {
		return
	}
	e.started = true
	if e.restoring {
		e.finishRestore()
	}
}

// finishRestore rebuilds what RestoreState does not set piece by piece: the
// store's eviction and close order (here, so that principals whose recorded
// place was taken are reported to storeChanged on this goroutine), and the
// workers' lists of principals that wait only for their cooldown to end.
// Workers have not run yet, so the sequencer may write their state.
func (e *Engine) finishRestore() {
	e.restoring = false
	e.store.Settle()
	for _, wk := range e.workers {
		clear(wk.cooling)
		wk.cooling = wk.cooling[:0]
		for key, ps := range wk.states {
			ps.cooling = len(ps.wins) == 0
			if ps.cooling {
				wk.cooling = append(wk.cooling, key)
			}
		}
		slices.Sort(wk.cooling)
	}
}

// startTracking makes the workers and the store report changed principals.
// Called by the sequencer while the workers wait for input (after Sync, or
// before the first event), so the channel send of their next batch publishes
// it to them.
func (e *Engine) startTracking() {
	if e.tracking {
		return
	}
	e.tracking = true
	for _, wk := range e.workers {
		wk.track = true
	}
	e.store.SetChangeHook(e.storeChanged)
}

// storeChanged is the store's change hook: an eviction, or a principal moved
// by one. It runs on the goroutine that holds the shard, which is the
// shard's worker, or the sequencer while the workers wait.
func (e *Engine) storeChanged(key string) {
	e.workers[e.workerOf(e.store.ShardOf(key))].touch(key, true)
}

// touch lists key as changed since the last Changes. A key that is not owned
// (it may point into an event's decode buffer) is copied when first listed.
func (wk *worker) touch(key string, owned bool) {
	if _, ok := wk.dirty[key]; ok {
		return
	}
	if !owned {
		key = strings.Clone(key)
	}
	wk.dirty[key] = struct{}{}
}
