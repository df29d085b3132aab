package eventcodec

import (
	"encoding/json"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

func BenchmarkAppend(b *testing.B) {
	ev := typicalEvent()
	buf := Append(nil, &ev)
	js, _ := json.Marshal(&ev)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], &ev)
	}
	b.ReportMetric(float64(len(buf)), "wire-bytes")
	b.ReportMetric(float64(len(js)), "json-bytes")
}

func BenchmarkDecode(b *testing.B) {
	ev := typicalEvent()
	buf := Append(nil, &ev)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var got ingest.Event
	for b.Loop() {
		if err := Decode(buf, &got); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInterned(b *testing.B) {
	ev := typicalEvent()
	buf := Append(nil, &ev)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var in Interner
	intern := in.Intern
	var got ingest.Event
	for b.Loop() {
		if err := DecodeInterned(buf, &got, intern); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSON is the baseline the binary format replaces.
func BenchmarkJSON(b *testing.B) {
	ev := typicalEvent()
	js, _ := json.Marshal(&ev)
	b.Run("Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		var got ingest.Event
		for b.Loop() {
			if err := json.Unmarshal(js, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
