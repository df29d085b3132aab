package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trailwatch/trailwatch/internal/testutil/awsquery"
	"github.com/trailwatch/trailwatch/respond"
)

func TestReleaseCommand(t *testing.T) {
	fake := awsquery.New(t)
	fake.AddUser("mallory", map[string]string{"AKIAMALLORY000000001": "Inactive"})
	t.Setenv("AWS_ACCESS_KEY_ID", awsquery.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsquery.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	rec := respond.AuditRecord{Time: "2025-03-01T02:00:00Z", Action: respond.ActionQuarantine, AlertID: "a1",
		Principal: "arn:aws:iam::111111111111:user/mallory", PrincipalType: "IAMUser", Account: "111111111111",
		Result: respond.ResultQuarantined, Calls: []respond.Call{},
		Previous: &respond.PreviousState{UserName: "mallory", PolicyName: "TrailwatchQuarantine", AccessKeys: []string{"AKIAMALLORY000000001"}}}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(audit, append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		args := []string{"release", rec.Principal, "--audit-file", audit, "--region", awsquery.Region,
			"--iam-endpoint", fake.URL, "--ec2-endpoint", fake.URL, "--sts-endpoint", fake.URL, "--log-level", "error"}
		if dry {
			args = append(args, "--dry-run")
		}
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		var got respond.AuditRecord
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("output %s: %v", out.Bytes(), err)
		}
		want := respond.ResultReleased
		if dry {
			want = respond.ResultDryRun
		}
		if got.Result != want || len(got.Calls) != 2 {
			t.Fatalf("dry=%v: %+v", dry, got)
		}
	}
	// The dry run made no change; the live run deleted the (absent) policy
	// and reactivated the key.
	if want := []string{"sts:GetCallerIdentity", "sts:GetCallerIdentity", "iam:DeleteUserPolicy", "iam:UpdateAccessKey"}; !slices.Equal(fake.Actions(), want) {
		t.Fatalf("calls %v", fake.Actions())
	}
	if fake.KeyStatus("mallory", "AKIAMALLORY000000001") != "Active" {
		t.Fatal("key not reactivated")
	}
}
