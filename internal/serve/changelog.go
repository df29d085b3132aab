package serve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The state changelog (scale.state_topic) is compacted and co-partitioned
// with the events topic: the state of events partition p lives in changelog
// partition p, so a new owner of p reads one partition to restore.
//
// Key: the decimal partition, '/', then the canonical principal; the
// partition's own engine state (watermark, closed windows, peer groups) has
// the empty principal ("7/"). The partition is in the key so that the key
// alone says whose state it is, even if someone repartitions the topic.
//
// Value: a format byte (changelogVersion), the uvarint offset of the events
// partition up to which the state is current (the next offset to process when
// the checkpoint was cut), then the engine's encoding of the state
// (detect.Engine.Changes). A nil value is a tombstone: the principal is no
// longer tracked. The offset makes replays after a crash idempotent: a
// principal whose state is newer than the committed offset (its checkpoint's
// records were acknowledged but the commit was not made) skips the events
// its state already holds.

const changelogVersion = 1

// errChangelog marks a changelog record that cannot be used.
var errChangelog = errors.New("state changelog: bad record")

func stateKey(p int, principal string) []byte {
	b := make([]byte, 0, 8+len(principal))
	b = strconv.AppendInt(b, int64(p), 10)
	b = append(b, '/')
	return append(b, principal...)
}

// parseStateKey splits a changelog key.
func parseStateKey(k []byte) (p int, principal string, err error) {
	s := string(k)
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return 0, "", fmt.Errorf("%w: key %q", errChangelog, truncate(s, 64))
	}
	p, err = strconv.Atoi(s[:i])
	if err != nil || p < 0 || strconv.Itoa(p) != s[:i] { // canonical only: "-0/", "+1/", "01/" are not partitions
		return 0, "", fmt.Errorf("%w: key %q", errChangelog, truncate(s, 64))
	}
	return p, s[i+1:], nil
}

func stateValue(next int64, state []byte) []byte {
	if state == nil {
		return nil
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(state))
	b = append(b, changelogVersion)
	b = binary.AppendUvarint(b, uint64(next))
	return append(b, state...)
}

// parseStateValue returns the offset and the engine state of a value; a
// tombstone has state nil.
func parseStateValue(v []byte) (next int64, state []byte, err error) {
	if v == nil {
		return 0, nil, nil
	}
	if len(v) < 2 || v[0] != changelogVersion {
		return 0, nil, fmt.Errorf("%w: value format %d", errChangelog, firstByte(v))
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n > 1<<62 {
		return 0, nil, fmt.Errorf("%w: value offset", errChangelog)
	}
	return int64(n), v[1+k:], nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// binReader reads the uvarints and length-prefixed byte strings of the
// records this package encodes itself (raw positions, partition snapshots).
// After the first problem ok is false and every read returns zero values.
type binReader struct {
	b  []byte
	ok bool
}

func newBinReader(b []byte) *binReader { return &binReader{b: b, ok: true} }

func (r *binReader) uvarint() uint64 {
	if !r.ok {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.ok = false
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a uvarint length and that many bytes (aliasing the input).
func (r *binReader) bytes() []byte {
	n := r.uvarint()
	if !r.ok || n > uint64(len(r.b)) {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
