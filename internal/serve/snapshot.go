package serve

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A partition snapshot is the local fast path of a restore: the whole state
// of one events partition as of a final checkpoint, with the changelog's
// high watermark at that moment (stateEnd). Restoring reads the snapshot,
// then the changelog from stateEnd only. It is written when a partition is
// revoked or the service stops, after the changelog records of that
// checkpoint are acknowledged, so stateEnd covers every record this owner
// wrote; later records come from later owners and override it.
//
// Layout: "TWPS", version byte, uvarint partition, uvarint stateEnd,
// uvarint count, then count times (uvarint key length, key, uvarint value
// length, value as in the changelog), the uvarint length and bytes of the
// raw positions (dedup.go), then CRC-32C of everything before.

const (
	snapMagic   = "TWPS"
	snapVersion = 1
)

var (
	errSnapshot = errors.New("partition snapshot: unusable")
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
)

type partSnapshot struct {
	partition int
	stateEnd  int64
	keys      []string
	values    [][]byte
	positions []byte // raw positions (see dedup.go); nil for prekeyed inputs
}

func snapshotPath(dir, stateTopic string, p int) string {
	return filepath.Join(dir, strings.ReplaceAll(stateTopic, "/", "_")+"-"+strconv.Itoa(p)+".snap")
}

func (ps *partSnapshot) encode() []byte {
	var b bytes.Buffer
	b.WriteString(snapMagic)
	b.WriteByte(snapVersion)
	var tmp []byte
	put := func(v uint64) { tmp = binary.AppendUvarint(tmp[:0], v); b.Write(tmp) }
	put(uint64(ps.partition))
	put(uint64(ps.stateEnd))
	put(uint64(len(ps.keys)))
	for i, k := range ps.keys {
		put(uint64(len(k)))
		b.WriteString(k)
		put(uint64(len(ps.values[i])))
		b.Write(ps.values[i])
	}
	put(uint64(len(ps.positions)))
	b.Write(ps.positions)
	sum := crc32.Checksum(b.Bytes(), castagnoli)
	b.Write(binary.BigEndian.AppendUint32(nil, sum))
	return b.Bytes()
}

func decodePartSnapshot(data []byte) (*partSnapshot, error) {
	if len(data) < len(snapMagic)+1+4 || string(data[:4]) != snapMagic {
		return nil, fmt.Errorf("%w: not a partition snapshot", errSnapshot)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errSnapshot)
	}
	if body[4] != snapVersion {
		return nil, fmt.Errorf("%w: version %d", errSnapshot, body[4])
	}
	r := newBinReader(body[5:])
	p, end, count := r.uvarint(), r.uvarint(), r.uvarint()
	if !r.ok || count > uint64(len(r.b)) || p > 1<<20 || end > 1<<62 {
		return nil, fmt.Errorf("%w: header", errSnapshot)
	}
	ps := &partSnapshot{partition: int(p), stateEnd: int64(end)}
	for range count {
		k, v := r.bytes(), r.bytes()
		if !r.ok {
			return nil, fmt.Errorf("%w: truncated record", errSnapshot)
		}
		ps.keys = append(ps.keys, string(k))
		ps.values = append(ps.values, v)
	}
	pos := r.bytes()
	if !r.ok {
		return nil, fmt.Errorf("%w: truncated positions", errSnapshot)
	}
	if len(pos) > 0 {
		ps.positions = pos
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errSnapshot)
	}
	return ps, nil
}

func readPartSnapshot(path string) (*partSnapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodePartSnapshot(data)
}
