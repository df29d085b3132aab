package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/devbroker"
)

// ctMsg is one CloudTrail record to produce, with its message time.
type ctMsg struct {
	raw  []byte
	at   time.Time
	part int
	off  int64
}

// workloadRecords reads the CloudTrail records of a generated organization,
// in event-time order, each assigned to partition i%parts.
func workloadRecords(t *testing.T, parts int) []ctMsg {
	t.Helper()
	dir, _ := generate(t, 40, 6*time.Hour)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/CloudTrail/") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	var msgs []ctMsg
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		plain, _, err := ingest.DecompressBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(plain, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range doc.Records {
			var h struct{ EventTime time.Time }
			if err := json.Unmarshal(r, &h); err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, ctMsg{raw: append([]byte(nil), r...), at: h.EventTime.UTC()})
		}
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].at.Before(msgs[j].at) })
	offs := make([]int64, parts)
	for i := range msgs {
		msgs[i].part = i % parts
		msgs[i].off = offs[msgs[i].part]
		offs[msgs[i].part]++
	}
	return msgs
}

// startBroker runs a kfake broker with topics of 3 partitions.
func startBroker(t *testing.T, topics ...string) string {
	t.Helper()
	b, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Topics: topics, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()[0]
}

// produce writes each message to its partition with its timestamp.
func produce(t *testing.T, addr, topic string, msgs []ctMsg) {
	t.Helper()
	byPart := map[int][]kafkago.Message{}
	for _, m := range msgs {
		byPart[m.part] = append(byPart[m.part], kafkago.Message{Value: m.raw, Time: m.at})
	}
	for p, ms := range byPart {
		c, err := kafkago.DialLeader(context.Background(), "tcp", addr, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		for len(ms) > 0 {
			n := min(len(ms), 200)
			if _, err := c.WriteMessages(ms[:n]...); err != nil {
				t.Fatal(err)
			}
			ms = ms[n:]
		}
		c.Close()
	}
}

// mergeOrder is the order ReadRange documents: message time, partition, offset.
func mergeOrder(msgs []ctMsg) []ctMsg {
	out := append([]ctMsg(nil), msgs...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.part != b.part {
			return a.part < b.part
		}
		return a.off < b.off
	})
	return out
}

func writeNDJSON(t *testing.T, msgs []ctMsg) string {
	t.Helper()
	var b bytes.Buffer
	for _, m := range msgs {
		b.Write(m.raw)
		b.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "records.json")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplayKafka: a topic of CloudTrail records over 3 partitions replays to
// byte-identical alerts as a file of the same records in the documented merge
// order, on every run; from/to select by message time.
func TestReplayKafka(t *testing.T) {
	msgs := workloadRecords(t, 3)
	addr := startBroker(t, "ct")
	produce(t, addr, "ct", msgs)

	fileSum, fileOut := run(t, Options{Inputs: []string{writeNDJSON(t, mergeOrder(msgs))}})
	if fileSum.Alerts == 0 || fileSum.Decoded != int64(len(msgs)) {
		t.Fatalf("weak test input: %d alerts over %d of %d records", fileSum.Alerts, fileSum.Decoded, len(msgs))
	}
	url := "kafka://" + addr + "/ct"
	for i := range 2 {
		sum, out := run(t, Options{Inputs: []string{url}})
		if out != fileOut {
			t.Fatalf("run %d: kafka alerts differ from the file replay's (%d vs %d alerts)", i, sum.Alerts, fileSum.Alerts)
		}
		if sum.Decoded != fileSum.Decoded || sum.Records != fileSum.Records || sum.Principals != fileSum.Principals ||
			sum.TotalRejected() != 0 || sum.Inputs != 1 {
			t.Fatalf("run %d: summary %+v, file %+v", i, sum, fileSum)
		}
	}

	t.Run("range", func(t *testing.T) {
		from := msgs[len(msgs)/3].at
		to := msgs[2*len(msgs)/3].at
		var want []ctMsg
		for _, m := range msgs {
			if !m.at.Before(from) && !m.at.After(to) {
				want = append(want, m)
			}
		}
		q := fmt.Sprintf("%s?from=%s&to=%s", url, from.Format(time.RFC3339), to.Format(time.RFC3339))
		sum, out := run(t, Options{Inputs: []string{q}})
		if sum.Decoded != int64(len(want)) {
			t.Fatalf("decoded %d in [%s, %s], want %d", sum.Decoded, from, to, len(want))
		}
		_, fileOut := run(t, Options{Inputs: []string{writeNDJSON(t, mergeOrder(want))}})
		if out != fileOut {
			t.Fatal("range: alerts differ from the file replay of the same records")
		}
		// A range after every message reads nothing.
		late := msgs[len(msgs)-1].at.Add(time.Hour).Format(time.RFC3339)
		sum, _ = run(t, Options{Inputs: []string{url + "?from=" + late}})
		if sum.Records != 0 {
			t.Fatalf("from after the end: %d records", sum.Records)
		}
	})
}

// TestReplayKafkaMalformed: bad messages are counted by reason and
// dead-lettered with topic, partition and offset; --strict semantics follow
// from the summary as for files.
func TestReplayKafkaMalformed(t *testing.T) {
	addr := startBroker(t, "mixed")
	at := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	msgs := []ctMsg{
		{raw: []byte(ctRecord(1, "alice", "2025-03-03T01:00:00Z")), at: at, part: 0, off: 0},
		{raw: []byte(`{"eventVersion":"1.08","userIdentity":`), at: at.Add(time.Second), part: 1, off: 0},
		{raw: []byte("\x1f\x8b\x08\x00garbage"), at: at.Add(2 * time.Second), part: 2, off: 0},
		{raw: []byte(ctRecord(2, "bob", "2025-03-03T01:00:03Z")), at: at.Add(3 * time.Second), part: 1, off: 1},
	}
	produce(t, addr, "mixed", msgs)
	dl := filepath.Join(t.TempDir(), "dead.jsonl")
	sum, _ := run(t, Options{Inputs: []string{"kafka://" + addr + "/mixed"}, DeadLetter: dl})
	if sum.Decoded != 2 || sum.TotalRejected() != 2 || sum.Records != 4 {
		t.Fatalf("summary %+v", sum)
	}
	f, err := os.Open(dl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Reason    string `json:"reason"`
			Name      string `json:"name"`
			Partition *int32 `json:"partition"`
			Offset    int64  `json:"offset"`
			Position  string `json:"position"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Partition == nil || r.Name != "mixed" || r.Reason == "" {
			t.Fatalf("dead letter without its Kafka position: %s", sc.Bytes())
		}
		got = append(got, fmt.Sprintf("%s/%d@%d", r.Name, *r.Partition, r.Offset))
	}
	if want := "mixed/1@0 mixed/2@0"; strings.Join(got, " ") != want {
		t.Fatalf("dead letters at %v, want %s", got, want)
	}
}

// TestReplayKafkaErrors: an unreachable broker and a bad URL stop the replay
// with a clear, matchable error before anything is written.
func TestReplayKafkaErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Run(ctx, Options{Inputs: []string{"kafka://127.0.0.1:1/ct"}, Detect: defaultDetect(), Out: io.Discard})
	if !errors.Is(err, kafka.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable broker: %v", err)
	}
	_, err = Run(ctx, Options{Inputs: []string{"kafka://127.0.0.1:1/ct?since=x"}, Detect: defaultDetect()})
	if !errors.Is(err, kafka.ErrBadURL) {
		t.Fatalf("bad URL: %v", err)
	}
}
