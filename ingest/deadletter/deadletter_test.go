package deadletter

import (
	"bytes"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

func TestRoundTripKeepsBytes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	raws := [][]byte{[]byte(`{"eventTime":`), {0x1f, 0x8b, 0xff, 0x00}, nil}
	pos := ingest.FilePos("a.json.gz")
	kpos := ingest.Position{Name: "topic", Partition: 3, Offset: 42}
	for i, raw := range raws {
		p := pos
		if i == 2 {
			p = kpos
		}
		if err := w.Write(NewRecord(ingest.ReasonMalformedJSON, "bad", p, raw)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	recs, err := ReadAll(&buf)
	if err != nil || len(recs) != 3 {
		t.Fatalf("ReadAll: %d records, %v", len(recs), err)
	}
	for i, r := range recs {
		b, err := r.Bytes()
		if err != nil || !bytes.Equal(b, raws[i]) {
			t.Errorf("record %d bytes = %q, want %q", i, b, raws[i])
		}
	}
	if recs[1].RawBase64 == "" || recs[0].Raw == "" {
		t.Error("binary raw not base64-encoded, or text raw encoded")
	}
	if recs[2].Partition == nil || *recs[2].Partition != 3 || recs[2].Position != "topic/3@42" {
		t.Errorf("kafka position lost: %+v", recs[2])
	}
}
