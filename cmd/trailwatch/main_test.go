package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/respond"
)

func execute(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

const goodRecord = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"},"eventTime":"2025-03-01T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","eventID":"e1"}`

func TestReplayStrictExitCode(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.json"), []byte(goodRecord+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"eventTime":"yesterday","eventSource":"x","eventName":"y"}`+"\n"), 0o644)
	sumPath := filepath.Join(dir, "sum.json")
	dl := filepath.Join(dir, "dead.jsonl")

	_, stderr, err := execute(t, "", "replay", "--summary-json", sumPath, "--dead-letter", dl, filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json"))
	if err != nil {
		t.Fatalf("without --strict a rejection is not fatal: %v", err)
	}
	if !strings.Contains(stderr, "1 rejected") {
		t.Errorf("summary on stderr: %s", stderr)
	}
	var sum map[string]any
	b, _ := os.ReadFile(sumPath)
	if err := json.Unmarshal(b, &sum); err != nil || sum["decoded"].(float64) != 1 {
		t.Fatalf("summary json %s: %v", b, err)
	}
	if d, _ := os.ReadFile(dl); !bytes.Contains(d, []byte(`"reason":"bad_event_time"`)) {
		t.Errorf("dead letter: %s", d)
	}

	_, _, err = execute(t, "", "replay", "--strict", dir+"/good.json", dir+"/bad.json")
	if !errors.Is(err, errRejected) || exitCode(err) != 3 {
		t.Fatalf("--strict: err %v, exit %d", err, exitCode(err))
	}
	if _, _, err := execute(t, "", "replay", "--strict", dir+"/good.json"); err != nil {
		t.Fatalf("--strict with nothing rejected: %v", err)
	}
}

func TestReplayStdinAndFlags(t *testing.T) {
	out, _, err := execute(t, goodRecord+"\n", "replay", "--window", "300s", "--sigma", "4", "-")
	if err != nil {
		t.Fatal(err)
	}
	if out != "" {
		t.Errorf("one record raised alerts: %s", out)
	}
	if _, _, err := execute(t, "", "replay", "--window", "90ms", "-"); err == nil || !strings.Contains(err.Error(), "detect.window") {
		t.Errorf("bad window: %v", err)
	}
	if _, _, err := execute(t, "", "replay", "--format", "csv", "-"); err == nil {
		t.Error("bad format accepted")
	}
	if _, _, err := execute(t, "", "replay"); err == nil {
		t.Error("no inputs accepted")
	}
	if _, _, err := execute(t, "", "replay", "--from", "yesterday", "-"); err == nil {
		t.Error("bad --from accepted")
	}
}

func TestReplaySample(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a sample organization")
	}
	out, stderr, err := execute(t, "", "replay", "--sample")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "5 of 5 injected incidents caught") {
		t.Errorf("sample report:\n%s", stderr)
	}
	if strings.Count(out, "\n") < 5 {
		t.Errorf("alerts:\n%s", out)
	}
}

// TestReplayRespond: replay --respond delivers every alert of the replay to
// the config's sinks (a signed webhook here).
func TestReplayRespond(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a sample organization")
	}
	var mu sync.Mutex
	got := map[string]bool{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := respond.VerifySignature([]byte("s3cret"), r.Header.Get(respond.HeaderTimestamp),
			r.Header.Get(respond.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		mu.Lock()
		got[r.Header.Get(respond.HeaderAlertID)] = true
		mu.Unlock()
	}))
	defer hs.Close()
	t.Setenv("TW_REPLAY_HOOK_SECRET", "s3cret")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tw.yaml")
	os.WriteFile(cfgPath, []byte("respond:\n  sinks:\n    - name: soc\n      type: webhook\n      url: "+hs.URL+
		"\n      secret_env: TW_REPLAY_HOOK_SECRET\n"), 0o644)
	out, _, err := execute(t, "", "replay", "--config", cfgPath, "--respond", "--sample")
	if err != nil {
		t.Fatal(err)
	}
	ids := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal([]byte(line), &a) != nil {
			t.Fatalf("alert line %q", line)
		}
		ids++
		if !got[a.ID] {
			t.Errorf("alert %s was not delivered", a.ID)
		}
	}
	if ids == 0 {
		t.Fatal("no alerts")
	}
	if _, _, err := execute(t, "", "replay", "--respond", "--sample"); err == nil {
		t.Error("--respond without sinks accepted")
	}
}
