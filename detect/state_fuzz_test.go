package detect

import (
	"bytes"
	"errors"
	"testing"

	"github.com/trailwatch/trailwatch/baseline"
)

func newFuzzStateEngine(t testing.TB) *Engine {
	cfg := mixedConfig()
	cfg.Parallelism = 1
	cfg.BatchSize = 7
	e, err := New(cfg, baseline.New(stateStoreOptions()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// FuzzRestoreState: no key and value make RestoreState panic or fail with
// anything but its sentinels; what it accepts exports to values that restore
// to the same export byte for byte (Export -> RestoreState -> Export is a
// fixed point); and the restored engine goes on processing without panicking.
func FuzzRestoreState(f *testing.F) {
	src := newFuzzStateEngine(f)
	evs := stateEvents(45)
	for i := range evs {
		src.Process(&evs[i])
	}
	for k, v := range exportMap(f, src) {
		f.Add(k, v)
	}
	f.Add("k", []byte(nil))
	f.Add("k", []byte{stateVersion, flagDetector | 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	tail := evs[len(evs)-400:]

	f.Fuzz(func(t *testing.T, key string, value []byte) {
		e := newFuzzStateEngine(t)
		if err := e.RestoreState(key, value); err != nil {
			if !errors.Is(err, ErrStateCorrupt) && !errors.Is(err, ErrStateVersion) && !errors.Is(err, ErrStateIncompatible) {
				t.Fatalf("error matches no sentinel: %v", err)
			}
			return
		}
		first := exportMap(t, e)
		again := newFuzzStateEngine(t)
		for k, v := range first {
			if err := again.RestoreState(k, v); err != nil {
				t.Fatalf("exported %q does not restore: %v", k, err)
			}
		}
		second := exportMap(t, again)
		if len(first) != len(second) {
			t.Fatalf("round trip: %d keys, then %d", len(first), len(second))
		}
		for k, v := range first {
			if !bytes.Equal(second[k], v) {
				t.Fatalf("round trip changed %q:\n%x\n%x", k, v, second[k])
			}
		}
		for i := range tail {
			ev := tail[i]
			if i%3 == 0 && key != "" {
				ev.Principal.Key = key
			}
			again.Process(&ev)
		}
		again.Flush()
	})
}
