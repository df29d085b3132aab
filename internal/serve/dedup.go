package serve

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"github.com/trailwatch/trailwatch/ingest"
)

// Stage 1 is at least once: when its consumer group rebalances, the raw
// messages processed since its last commit are decoded again by the new
// owner and their events produced to the events topic a second time. Stage 2
// drops those copies. Stage 1 reads each raw partition in order and its
// outbox writes in order, so the events of one raw partition reach an events
// partition in (offset, index) order, and a copy shows up as a position at
// or before the newest one already applied from that raw partition. A task
// keeps that newest position per raw partition (a handful of entries) and
// writes it to the changelog with its checkpoints, so a new owner of the
// events partition drops the same copies.

type rawPartition struct {
	topic     string
	partition int32
}

type rawPos struct {
	offset, index int64
}

func (a rawPos) after(b rawPos) bool {
	return a.offset > b.offset || (a.offset == b.offset && a.index > b.index)
}

// rawSeen is the newest raw position applied per raw partition.
type rawSeen map[rawPartition]rawPos

// fresh reports whether pos is newer than every position applied from its
// raw partition, and records it if so. Positions not from Kafka are always
// fresh.
func (s rawSeen) fresh(pos *ingest.Position) bool {
	if !pos.IsKafka() || pos.Name == "" {
		return true
	}
	k := rawPartition{pos.Name, pos.Partition}
	p := rawPos{pos.Offset, pos.Index}
	if last, ok := s[k]; ok && !p.after(last) {
		return false
	}
	s[k] = p
	return true
}

// positionsKey is the changelog key of partition p's raw positions: no '/',
// so it can never be a principal's key.
func positionsKey(p int) []byte { return []byte(strconv.Itoa(p) + "#positions") }

// encode writes the positions sorted, so that equal maps encode equally.
func (s rawSeen) encode() []byte {
	keys := make([]rawPartition, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rawPartition) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.partition) - int(b.partition)
	})
	b := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		p := s[k]
		b = binary.AppendUvarint(b, uint64(len(k.topic)))
		b = append(b, k.topic...)
		b = binary.AppendUvarint(b, uint64(k.partition))
		b = binary.AppendUvarint(b, uint64(p.offset))
		b = binary.AppendUvarint(b, uint64(p.index))
	}
	return b
}

func decodeRawSeen(b []byte) (rawSeen, error) {
	bad := fmt.Errorf("%w: raw positions", errChangelog)
	r := newBinReader(b)
	n := r.uvarint()
	if !r.ok || n > uint64(len(r.b)) {
		return nil, bad
	}
	s := rawSeen{}
	for range n {
		topic := r.bytes()
		part, off, idx := r.uvarint(), r.uvarint(), r.uvarint()
		if !r.ok || len(topic) > 249 || part > 1<<31-1 || off > 1<<62 || idx > 1<<62 {
			return nil, bad
		}
		s[rawPartition{string(topic), int32(part)}] = rawPos{int64(off), int64(idx)}
	}
	if len(r.b) != 0 {
		return nil, bad
	}
	return s, nil
}
