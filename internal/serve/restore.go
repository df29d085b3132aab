package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/eventcodec"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/config"
)

// stateRec is the latest changelog value of one key during a restore.
type stateRec struct {
	next  int64
	state []byte // nil: tombstone
}

// restore builds the task's engine from its partition's state: the local
// snapshot if there is a usable one, then the changelog from where the
// snapshot ends (from the start without one). Only the latest record of a
// key counts, as after compaction. committed is the group's committed offset
// (negative when none): principals whose state is newer skip the events
// their state already holds.
func (t *partTask) restore(ctx context.Context, committed int64) error {
	_, err := t.restoreStats(ctx, committed)
	return err
}

// RestoreStats describe one partition restore.
type RestoreStats struct {
	Source     string // "changelog", or "snapshot" when a local snapshot was the base
	Principals int    // principals restored
	Records    int64  // changelog records read
	Bytes      int64  // snapshot and changelog bytes read
	Seconds    float64
}

// RestorePartition restores events partition p's state from the changelog
// (and scale.snapshot_dir) as a new owner would, then drops it: for
// benchmarks and for checking a changelog.
func RestorePartition(ctx context.Context, cfg config.Config, p int) (RestoreStats, error) {
	s, err := New(Options{Config: cfg})
	if err != nil {
		return RestoreStats{}, err
	}
	defer s.close()
	if s.det == nil {
		return RestoreStats{}, fmt.Errorf("restore: scale.role %s has no detect stage", cfg.Scale.Role)
	}
	t := &partTask{d: s.det, p: p, log: s.log}
	st, err := t.restoreStats(ctx, -1)
	if t.eng != nil {
		t.eng.Close()
	}
	return st, err
}

func (t *partTask) restoreStats(ctx context.Context, committed int64) (RestoreStats, error) {
	d := t.d
	began := time.Now()
	eng, st, err := d.newEngine()
	if err != nil {
		return RestoreStats{}, err
	}
	latest := map[string]stateRec{}
	var positions []byte // the raw positions record's state, if any
	from := kafkago.FirstOffset
	source := "changelog"
	var bytes, records int64
	if dir := d.cfg.Scale.SnapshotDir; dir != "" {
		path := snapshotPath(dir, d.cfg.Scale.StateTopic, t.p)
		ps, err := readPartSnapshot(path)
		switch {
		case err == nil && ps.partition == t.p:
			_, end, err := kafka.PartitionBounds(ctx, d.cfg.Kafka.Brokers, d.s.conn.Dialer, d.cfg.Scale.StateTopic, t.p)
			if err != nil {
				eng.Close()
				return RestoreStats{}, err
			}
			if ps.stateEnd > end {
				// The changelog is shorter than when the snapshot was cut:
				// the topic was recreated. The snapshot is not evidence of
				// anything now.
				t.log.Warn("local snapshot is ahead of the changelog; ignoring it", zap.String("path", path))
				break
			}
			for i, k := range ps.keys {
				next, state, err := parseStateValue(ps.values[i])
				if err != nil {
					eng.Close()
					return RestoreStats{}, fmt.Errorf("snapshot %s: %w", path, err)
				}
				latest[k] = stateRec{next: next, state: state}
				bytes += int64(len(k) + len(ps.values[i]))
			}
			positions = ps.positions
			from, source = ps.stateEnd, "snapshot"
		case err == nil:
			t.log.Warn("local snapshot is of another partition; ignoring it", zap.String("path", path))
		case errors.Is(err, fs.ErrNotExist):
		default:
			t.log.Warn("local snapshot unusable; restoring from the changelog", zap.String("path", path), zap.Error(err))
		}
	}
	var foreign int
	posKey := string(positionsKey(t.p))
	_, err = kafka.ReadPartition(ctx, d.cfg.Kafka.Brokers, d.s.conn.Dialer, d.cfg.Scale.StateTopic, t.p, from, func(m *kafkago.Message) error {
		records++
		bytes += int64(len(m.Key) + len(m.Value))
		if string(m.Key) == posKey {
			if _, v, err := parseStateValue(m.Value); err == nil && v != nil {
				positions = append([]byte(nil), v...)
			} else {
				d.m.restoreBad.Inc()
			}
			return nil
		}
		p, principal, err := parseStateKey(m.Key)
		if err != nil || p != t.p {
			foreign++
			return nil
		}
		next, state, err := parseStateValue(m.Value)
		if err != nil {
			d.m.restoreBad.Inc()
			t.log.Warn("unusable changelog record skipped", zap.Int64("offset", m.Offset), zap.Error(err))
			return nil
		}
		latest[principal] = stateRec{next: next, state: append([]byte(nil), state...)}
		return nil
	})
	if err != nil {
		eng.Close()
		return RestoreStats{}, fmt.Errorf("restore partition %d from %s: %w", t.p, d.cfg.Scale.StateTopic, err)
	}
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.Sort(keys) // "" (the engine's own state) first
	var skipUntil int64 = -1
	skip := map[string]int64{}
	principals := 0
	for _, k := range keys {
		r := latest[k]
		if r.state == nil {
			continue // tombstone
		}
		if err := eng.RestoreState(k, r.state); err != nil {
			d.m.restoreBad.Inc()
			t.log.Warn("unusable state skipped", zap.Error(err))
			continue
		}
		if k == "" {
			continue
		}
		principals++
		if r.next > committed {
			skip[k] = r.next
			skipUntil = max(skipUntil, r.next)
		}
	}
	if foreign > 0 {
		t.log.Warn("changelog records of other partitions ignored", zap.Int("records", foreign))
	}
	t.eng, t.store = eng, st
	t.next = -1
	if !d.cfg.Scale.Prekeyed {
		t.seen = rawSeen{}
		if positions != nil {
			if t.seen, err = decodeRawSeen(positions); err != nil {
				d.m.restoreBad.Inc()
				t.log.Warn("raw positions unusable; copies produced before the last checkpoint may count twice", zap.Error(err))
				t.seen = rawSeen{}
			}
		}
	}
	if len(skip) > 0 {
		t.skip, t.skipUntil = skip, skipUntil
	}
	t.intern = eventcodec.Interner{Max: 1 << 16}
	if d.cfg.Scale.Prekeyed {
		opts, err := d.cfg.DecodeOptions()
		if err == nil {
			t.dec, err = decode.New(opts)
		}
		if err != nil {
			eng.Close()
			return RestoreStats{}, err
		}
	}
	secs := time.Since(began).Seconds()
	d.m.restoreSeconds.Observe(secs)
	d.m.restoreBytes.Add(float64(bytes))
	d.m.restoreRecords.Add(float64(records))
	d.m.restoredPrincipals.Add(float64(principals))
	t.log.Info("partition state restored", zap.String("from", source), zap.Int("principals", principals),
		zap.Int64("changelog_records", records), zap.Int64("bytes", bytes), zap.Int("ahead_of_commit", len(skip)),
		zap.Float64("seconds", secs))
	return RestoreStats{Source: source, Principals: principals, Records: records, Bytes: bytes, Seconds: secs}, nil
}

// writeSnapshot saves the partition's whole state with the changelog's end,
// after the final checkpoint was acknowledged.
func (t *partTask) writeSnapshot() {
	d := t.d
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, end, err := kafka.PartitionBounds(ctx, d.cfg.Kafka.Brokers, d.s.conn.Dialer, d.cfg.Scale.StateTopic, t.p)
	if err != nil {
		t.log.Warn("no local snapshot: changelog end unknown", zap.Error(err))
		return
	}
	ps := &partSnapshot{partition: t.p, stateEnd: end}
	if t.seen != nil {
		ps.positions = t.seen.encode()
	}
	if err := t.eng.Export(func(key string, state []byte) {
		next := t.next
		if ahead, ok := t.skip[key]; ok && ahead > next {
			next = ahead // restored ahead of the commit and not reached yet
		}
		ps.keys = append(ps.keys, key)
		ps.values = append(ps.values, stateValue(next, state))
	}); err != nil {
		t.log.Warn("no local snapshot", zap.Error(err))
		return
	}
	path := snapshotPath(d.cfg.Scale.SnapshotDir, d.cfg.Scale.StateTopic, t.p)
	if err := writeFileAtomic(path, ps.encode()); err != nil {
		t.log.Warn("local snapshot not written", zap.String("path", path), zap.Error(err))
	}
}
