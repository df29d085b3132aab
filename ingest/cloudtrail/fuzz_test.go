package cloudtrail

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/ingest"
)

func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	var all []string
	for _, r := range loadCorpus(f) {
		seeds = append(seeds, r.raw)
		all = append(all, string(r.raw))
	}
	for _, s := range []string{
		records(recIAMUser, recS3), recIAMUser + "\n" + recS3, recIAMUser + recConsole, "[" + recIAMUser + "]",
		eventBridge("AWS API Call via CloudTrail", recIAMUser), cwlPayload(recIAMUser, recS3), cwlControl,
		lookupEvents(recIAMUser), recDigest, recInsight, records(all[:40]...), strings.Join(all[:40], "\n"),
		`{"Records":[{"a":"\u00e9\"\\"}, 1e5, -0.5, true, null, []]}`, records(recS3)[:900],
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// checkOutcomes asserts what must hold of any decoder output: events are
// complete, valid UTF-8, and round-trip through AppendRecord; rejects carry a
// known reason.
func checkOutcomes(t *testing.T, out []outcome) {
	t.Helper()
	d := NewDecoder(Options{})
	for _, o := range out {
		switch o.Kind {
		case "event":
			ev := &o.Event
			p := ev.Principal
			for _, s := range []string{p.Key, p.SubKey, p.Account, p.AccessKeyID, ev.Action, ev.ErrorCode, ev.Region, ev.EventID} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 %q in %v", s, o)
				}
			}
			if p.Key == "" || !strings.Contains(ev.Action, ":") || ev.Source != ingest.SourceCloudTrail {
				t.Fatalf("incomplete event %v", o)
			}
			checkRoundTrip(t, d, ev)
		case "reject":
			if !slices.Contains(ingest.Reasons, o.Reason) {
				t.Fatalf("unknown reason %q", o.Reason)
			}
		case "skip":
			if !slices.Contains(ingest.SkipReasons, o.Reason) {
				t.Fatalf("unknown skip reason %q", o.Reason)
			}
		}
	}
}

// FuzzDecodeMessage: no panic on any payload, and every event re-decodes
// identically through AppendRecord -> DecodeRecord.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(Options{MaxRecordBytes: 1 << 16})
		s := &recSink{}
		_ = d.DecodeMessage(b, ingest.Position{Name: "t", Partition: 0, Offset: 7}, s)
		checkOutcomes(t, s.out)
	})
}

// FuzzDecode drives the streaming path. Besides FuzzDecodeMessage's checks,
// the outcome must not depend on how the input is split into reads: a reader
// that returns one byte at a time (so every token crosses buffer windows)
// gives exactly the same outcomes, positions and error.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(Options{MaxRecordBytes: 1 << 16})
		s := &recSink{}
		err := d.Decode(bytes.NewReader(b), ingest.FilePos("t"), s)
		checkOutcomes(t, s.out)
		s1 := &recSink{}
		err1 := d.Decode(iotest.OneByteReader(bytes.NewReader(b)), ingest.FilePos("t"), s1)
		if (err == nil) != (err1 == nil) || err != nil && err.Error() != err1.Error() {
			t.Fatalf("error %v, one byte at a time %v", err, err1)
		}
		if !reflect.DeepEqual(s.out, s1.out) {
			t.Fatalf("outcomes differ when read one byte at a time:\n%v\n%v", s.out, s1.out)
		}
	})
}
