package replay

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestPantherCompromisedRootStory replays the labelled story in
// testdata/corpus/scenarios/panther-compromised-root end to end: the
// victim's rare, routine root sign-ins over two weeks, then the attacker's
// burst of root activity on 2020-11-01 (sign-in, StopLogging, a new user with
// policies and access keys) and the attacker's instance sending data out.
//
// The story is tiny (27 events), so the test scores it with hour windows and
// small minimum excesses, as a SOC would for a low-volume root account; the
// point is that the attacker's burst, and nothing of the victim's, alerts,
// and that the alert explains itself with the attacker's actions.
func TestPantherCompromisedRootStory(t *testing.T) {
	dir := t.TempDir()
	story := corpus + "/scenarios/panther-compromised-root/"
	f, err := os.Open(story + "cloudtrail_labelled.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type labelled struct {
		Label string          `json:"label"`
		Event json.RawMessage `json:"event"`
	}
	type rec struct {
		t     time.Time
		label string
		raw   string
	}
	var recs []rec
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l labelled
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		var head struct {
			EventTime time.Time `json:"eventTime"`
		}
		if err := json.Unmarshal(l.Event, &head); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec{head.EventTime, l.Label, string(l.Event)})
	}
	// Evidence collected from several places arrives out of order; a SOC
	// replays it in event-time order.
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].t.Before(recs[j].t) })
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.raw)
		b.WriteByte('\n')
	}
	ctPath := filepath.Join(dir, "story.ndjson")
	if err := os.WriteFile(ctPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := defaultDetect()
	cfg.Window = time.Hour
	cfg.AllowedLateness = 0
	cfg.MinExcess.APICalls = 5
	cfg.MinExcess.APIErrors = 1
	cfg.MinExcess.EgressBytes = 1 << 20
	cfg.MinHistory = 24
	var out strings.Builder
	dl := filepath.Join(dir, "dead.jsonl")
	opts := Options{Inputs: []string{ctPath, story + "attacker_vpc.log"}, Detect: cfg, DeadLetter: dl, Parallelism: 2}
	opts.Out = &out
	sum, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Decoded != 27+6 || sum.TotalRejected() != 0 {
		t.Fatalf("decoded %d, rejected %v: every story record must decode", sum.Decoded, sum.Rejected)
	}
	var alerts []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, a)
	}
	if len(alerts) == 0 {
		t.Fatalf("the compromise raised no alert (summary %+v)", sum)
	}
	compromise := time.Date(2020, 11, 1, 0, 0, 0, 0, time.UTC)
	var rootBurst bool
	for _, a := range alerts {
		det, _ := time.Parse(time.RFC3339, a["detected_at"].(string))
		if det.Before(compromise) {
			t.Errorf("alert before the compromise, on the victim's routine activity: %v", a)
		}
		if a["principal"] == "493859302102" && a["principal_type"] == "Root" && a["metric"] == "api_calls" {
			rootBurst = true
			top, _ := json.Marshal(a["top"])
			for _, action := range []string{"cloudtrail.amazonaws.com:StopLogging", "iam.amazonaws.com:CreateAccessKey"} {
				if !strings.Contains(string(top), action) {
					t.Errorf("root alert's top actions %s lack %s", top, action)
				}
			}
			if ev, _ := a["evidence"].([]any); len(ev) == 0 {
				t.Error("root alert has no evidence")
			}
		}
	}
	if !rootBurst {
		t.Errorf("no api_calls alert for the compromised root account; alerts: %v", alerts)
	}
}
