package serve

import (
	"bytes"
	"github.com/trailwatch/trailwatch/ingest"
	"testing"
)

// The changelog and snapshot decoders read what other processes (and
// whoever can write to the state topic) wrote: they must never panic, and
// what they accept must round-trip.

func FuzzStateRecord(f *testing.F) {
	f.Add([]byte("3/arn:aws:iam::1:user/a"), stateValue(42, []byte{1, 2, 3}))
	f.Add([]byte("0/"), stateValue(0, []byte{}))
	f.Add([]byte("7#positions"), stateValue(9, rawSeen{{"t", 2}: {5, 1}}.encode()))
	f.Add([]byte("x"), []byte{9})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if p, principal, err := parseStateKey(key); err == nil {
			if !bytes.Equal(stateKey(p, principal), key) {
				t.Fatalf("key %q parsed as %d/%q", key, p, principal)
			}
		}
		next, state, err := parseStateValue(value)
		if err == nil && state != nil {
			if got := stateValue(next, state); !bytes.Equal(got, value) && len(value) > 0 {
				// A non-minimal uvarint decodes to the same offset.
				if n2, s2, err := parseStateValue(got); err != nil || n2 != next || !bytes.Equal(s2, state) {
					t.Fatalf("value round trip: %x -> %d %x", value, next, state)
				}
			}
		}
		if s, err := decodeRawSeen(value); err == nil {
			s2, err := decodeRawSeen(s.encode())
			if err != nil || len(s2) != len(s) {
				t.Fatalf("positions round trip: %v %v", s, err)
			}
			for k, v := range s {
				if s2[k] != v {
					t.Fatalf("positions round trip: %v", s)
				}
			}
		}
	})
}

func FuzzPartSnapshot(f *testing.F) {
	ps := &partSnapshot{partition: 3, stateEnd: 77, keys: []string{"", "a"}, values: [][]byte{stateValue(1, []byte{1}), stateValue(2, []byte{2, 2})},
		positions: rawSeen{{"raw", 0}: {10, 2}}.encode()}
	f.Add(ps.encode())
	f.Add((&partSnapshot{}).encode())
	f.Add([]byte("TWPS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := decodePartSnapshot(data)
		if err != nil {
			return
		}
		again, err := decodePartSnapshot(ps.encode())
		if err != nil || again.partition != ps.partition || again.stateEnd != ps.stateEnd || len(again.keys) != len(ps.keys) ||
			!bytes.Equal(again.positions, ps.positions) {
			t.Fatalf("snapshot round trip: %+v / %+v %v", ps, again, err)
		}
	})
}

func TestRawSeen(t *testing.T) {
	s := rawSeen{}
	pos := func(topic string, p int32, off, idx int64) *ingest.Position {
		return &ingest.Position{Name: topic, Partition: p, Offset: off, Index: idx}
	}
	steps := []struct {
		p    *ingest.Position
		want bool
	}{
		{pos("a", 0, 5, 0), true},
		{pos("a", 0, 5, 1), true},
		{pos("a", 0, 5, 1), false}, // the same event again
		{pos("a", 0, 4, 9), false}, // an earlier message: stage 1 went back
		{pos("a", 1, 0, 0), true},  // another raw partition
		{pos("b", 0, 1, 0), true},
		{pos("a", 0, 6, 0), true},
		{pos("file", -1, 0, 0), true}, // not from Kafka
		{pos("file", -1, 0, 0), true},
	}
	for i, st := range steps {
		if got := s.fresh(st.p); got != st.want {
			t.Fatalf("step %d %+v: fresh %v", i, *st.p, got)
		}
	}
	back, err := decodeRawSeen(s.encode())
	if err != nil || len(back) != 3 || back[rawPartition{"a", 0}] != (rawPos{6, 0}) {
		t.Fatalf("round trip %v %v", back, err)
	}
}
