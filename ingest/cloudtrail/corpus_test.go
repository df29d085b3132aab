package cloudtrail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// corpusFiles are the real CloudTrail records in the shared corpus and the
// field of each line that holds the record.
var corpusFiles = []struct{ path, field string }{
	{"../../testdata/corpus/cloudtrail/panther/panther_tests_AWS_CloudTrail.ndjson", "log"},
	{"../../testdata/corpus/cloudtrail/awsdocs/cloudtrail_doc_examples.ndjson", "event"},
	{"../../testdata/corpus/scenarios/panther-compromised-root/cloudtrail_labelled.ndjson", "event"},
}

type corpusRecord struct {
	name  string // file:line
	label string // scenario label, if any
	raw   []byte
}

func loadCorpus(tb testing.TB) []corpusRecord {
	tb.Helper()
	var out []corpusRecord
	for _, cf := range corpusFiles {
		f, err := os.Open(cf.path)
		if err != nil {
			tb.Fatalf("corpus: %v", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 4<<20)
		for n := 1; sc.Scan(); n++ {
			var line map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				tb.Fatalf("%s:%d: %v", cf.path, n, err)
			}
			var label string
			_ = json.Unmarshal(line["label"], &label)
			out = append(out, corpusRecord{
				name:  fmt.Sprintf("%s:%d", filepath.Base(cf.path), n),
				label: label,
				raw:   line[cf.field],
			})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// TestCorpus decodes every real record and compares the outcome of each with
// testdata/corpus.golden (regenerate with -update, then review the diff:
// the file is the statement of what each record should give). Records whose
// eventTime has no zone are rejected by default; the golden line also shows
// what they give with AssumeUTC, so principal resolution is reviewed for
// every record. Aggregate facts are asserted independently of the file.
func TestCorpus(t *testing.T) {
	recs := loadCorpus(t)
	strict := NewDecoder(Options{})
	utc := NewDecoder(Options{AssumeUTC: true})
	msg := NewDecoder(Options{})
	var golden bytes.Buffer
	count := map[string]int{}
	for _, r := range recs {
		s := &recSink{}
		pos := ingest.FilePos(r.name)
		strict.DecodeRecord(r.raw, pos, s)
		if len(s.out) != 1 {
			t.Fatalf("%s: %d outcomes", r.name, len(s.out))
		}
		o := s.out[0]
		key := o.Kind
		if o.Reason != "" {
			key += ":" + string(o.Reason)
		}
		count[key]++
		line := r.name + " " + o.String()
		if o.Reason == ingest.ReasonBadTime && strings.Contains(o.Detail, "no time zone") {
			u := &recSink{}
			utc.DecodeRecord(r.raw, pos, u)
			line += "\n    with AssumeUTC: " + u.out[0].String()
			if u.out[0].Kind == "event" {
				count["utc-event"]++
			}
		}
		golden.WriteString(line + "\n")

		switch o.Kind {
		case "event":
			if o.Event.Principal.Key == "" || o.Event.Action == "" || o.Event.Time.IsZero() {
				t.Errorf("%s: incomplete event %v", r.name, o)
			}
			checkRoundTrip(t, strict, &o.Event)
		case "reject":
			if !slices.Contains(ingest.Reasons, o.Reason) || o.Detail == "" {
				t.Errorf("%s: reject %v", r.name, o)
			}
		}

		// The same record as a message (the Kafka path) gives the same
		// outcome whenever it is recognisable as CloudTrail at all.
		if Sniff(r.raw) {
			m := &recSink{}
			if err := msg.DecodeMessage(r.raw, pos, m); err != nil {
				t.Fatal(err)
			}
			if len(m.out) != 1 || m.out[0].String() != o.String() {
				t.Errorf("%s: DecodeMessage gives %v, DecodeRecord %v", r.name, m.out, o)
			}
		}

		if r.label != "" { // the compromised-root scenario
			if o.Kind != "event" {
				t.Errorf("%s: scenario record not decoded: %v", r.name, o)
			} else if p := o.Event.Principal; !(p.Type == ingest.PrincipalRoot && p.Key == "493859302102" ||
				p.Type == ingest.PrincipalIAMUser && p.Key == "arn:aws:iam::493859302102:user/tracy_stone") {
				t.Errorf("%s: scenario principal %+v", r.name, p)
			}
		}
	}
	checkGolden(t, "corpus.golden", golden.Bytes())

	t.Logf("corpus outcomes: %v", count)
	want := map[string]int{
		"reject:no_event_time":  25,  // the 25 records without eventTime (some have lowercase keys)
		"insight":               3,   // the three Insights examples, never as events
		"reject:bad_event_time": 125, // 123 without a zone, "redacted", "..."
		"utc-event":             113,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d records, want %d", k, count[k], n)
		}
	}
	if total := len(recs); total != 523 {
		t.Errorf("%d corpus records, want 523", total)
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d:\n got %s\nwant %s\n(run go test -update and review the diff)", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s: %d lines, want %d (run go test -update and review the diff)", path, len(gl), len(wl))
	}
}
