package vpcflow

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailwatch/trailwatch/ingest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the decoder's output")

const corpus = "../../testdata/corpus"

// corpusFiles are the real flow-log samples: every AWS documentation example,
// the compromised-root scenario, and Panther's normalised JSON (which is not
// flow-log text and must be rejected, not mis-decoded).
func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(corpus, "vpcflow/awsdocs/example_*.log"))
	if err != nil || len(files) != 18 {
		t.Fatalf("expected the 18 AWS doc examples, got %d (%v)", len(files), err)
	}
	return append(files,
		filepath.Join(corpus, "scenarios/panther-compromised-root/attacker_vpc.log"),
		filepath.Join(corpus, "vpcflow/panther/panther_tests_AWS_VPCFlow.ndjson"))
}

// TestConformance decodes every corpus file and compares the outcome of each
// line (event with principal, time, addresses and egress; skip; or reject with
// reason) with testdata/conformance.golden. The golden file was reviewed line
// by line; see the comments in TestConformanceFacts for the facts it encodes.
func TestConformance(t *testing.T) {
	var out bytes.Buffer
	for _, name := range corpusFiles(t) {
		fmt.Fprintf(&out, "== %s\n", filepath.ToSlash(name[len(corpus)+1:]))
		for _, o := range decodeFile(t, name, Options{}) {
			fmt.Fprintln(&out, o)
		}
	}
	// The v5 example again with S3 excluded: the egress flow to S3 is not egress.
	name := filepath.Join(corpus, "vpcflow/awsdocs/example_17.log")
	fmt.Fprintf(&out, "== %s (ExcludeServices S3)\n", filepath.ToSlash(name[len(corpus)+1:]))
	for _, o := range decodeFile(t, name, Options{ExcludeServices: []string{"S3"}}) {
		fmt.Fprintln(&out, o)
	}
	golden := filepath.Join("testdata", "conformance.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("conformance output differs from %s (review, then -update):\n%s", golden, out.String())
	}
}

func decodeFile(t testing.TB, name string, opts Options) []string {
	d, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &recorder{}
	if err := d.Decode(f, ingest.FilePos(name), r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	lines := make([]string, len(r.outcomes))
	for i, o := range r.outcomes {
		lines[i] = fmt.Sprintf("%d@%d %s", r.poss[i].Line, r.poss[i].Offset, o)
	}
	return lines
}

// TestConformanceFacts pins the facts of the corpus that matter most, so that
// an -update cannot silently change them.
func TestConformanceFacts(t *testing.T) {
	// The compromised-root story: two ~1 MiB exfiltration flows to the
	// attacker's address over SSH, attributed to the instance's ENI.
	d, _ := NewDecoder(Options{})
	f, err := os.Open(filepath.Join(corpus, "scenarios/panther-compromised-root/attacker_vpc.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &recorder{}
	if err := d.Decode(f, ingest.FilePos("attacker_vpc.log"), r); err != nil {
		t.Fatal(err)
	}
	var exfil uint64
	for _, ev := range r.events {
		if ev.Principal.Key != "eni-0b13344793d4fde67" || ev.Principal.Type != ingest.PrincipalNetworkInterface || ev.Principal.Account != "493859302102" {
			t.Errorf("principal %+v", ev.Principal)
		}
		if ev.PeerAddr.String() == "92.55.146.245" && ev.PeerPort == 22 {
			exfil += ev.EgressBytes
		}
	}
	if len(r.events) != 6 || exfil != 2*1048576 {
		t.Errorf("events=%d exfil bytes to attacker=%d, want 6 and %d", len(r.events), exfil, 2*1048576)
	}
	// The 3 MB download from S3 (52.216.229.53) is inbound, not egress.
	if ev := r.events[3]; ev.EgressBytes != 0 || ev.PeerAddr.String() != "52.216.229.53" {
		t.Errorf("S3 download decoded as %s", describeEvent(&ev))
	}
}
