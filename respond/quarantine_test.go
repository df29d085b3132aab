package respond

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/internal/testutil/awsquery"
)

const selfARN = "arn:aws:sts::111111111111:assumed-role/trailwatch/i-0123"

type qfix struct {
	fake  *awsquery.Server
	cl    Clients
	audit *AuditLog
	clock *fakeClock
	q     *Quarantine
}

func newQuarantine(t *testing.T, mut func(*QuarantineConfig)) *qfix {
	t.Helper()
	fake, cl := fakeAWS(t)
	f := &qfix{fake: fake, cl: cl, audit: openAudit(t), clock: &fakeClock{t: t0}}
	cfg := Defaults().Quarantine
	cfg.Enabled, cfg.DryRun, cfg.Region = true, new(bool), awsquery.Region
	cfg.SecurityGroups = map[string]string{"vpc-0a1b2c3d": "sg-0badc0de"}
	cfg.Protected = []string{"arn:aws:iam::*:role/breakglass-*"}
	if mut != nil {
		mut(&cfg)
	}
	q, err := NewQuarantine(QuarantineOptions{Config: cfg, Clients: oneAccount{"111111111111", cl}, Audit: f.audit,
		Self: selfARN, Now: f.clock.Now, Metrics: NewMetrics(nil)})
	if err != nil {
		t.Fatal(err)
	}
	f.q = q
	return f
}

func (f *qfix) lastRecord(t *testing.T) AuditRecord {
	t.Helper()
	recs := readAudit(t, f.audit)
	if len(recs) == 0 {
		t.Fatal("no audit record")
	}
	return recs[len(recs)-1]
}

func readAudit(t *testing.T, l *AuditLog) []AuditRecord {
	t.Helper()
	recs, err := ReadAudit(l.path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func params(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestQuarantineIAMUserAndRelease(t *testing.T) {
	f := newQuarantine(t, nil)
	f.fake.AddUser("mallory", map[string]string{"AKIAMALLORY000000001": "Active", "AKIAMALLORY000000002": "Inactive"})
	a := testAlert("arn:aws:iam::111111111111:user/dev/mallory", "IAMUser")
	if err := f.q.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := []awsquery.Call{
		{Service: "iam", Action: "ListAccessKeys", Params: params("UserName", "mallory")},
		{Service: "iam", Action: "PutUserPolicy", Params: params("UserName", "mallory", "PolicyName", "TrailwatchQuarantine", "PolicyDocument", denyAll())},
		{Service: "iam", Action: "UpdateAccessKey", Params: params("UserName", "mallory", "AccessKeyId", "AKIAMALLORY000000001", "Status", "Inactive")},
	}
	if got := f.fake.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n got %v\nwant %v", got, want)
	}
	if st := f.fake.KeyStatus("mallory", "AKIAMALLORY000000001"); st != "Inactive" {
		t.Fatalf("key status %s", st)
	}
	rec := f.lastRecord(t)
	if rec.Result != ResultQuarantined || rec.DryRun || rec.AlertID != a.ID || len(rec.Calls) != 2 || !rec.Calls[1].Made ||
		!reflect.DeepEqual(rec.Previous.AccessKeys, []string{"AKIAMALLORY000000001"}) {
		t.Fatalf("audit record %+v", rec)
	}

	// Release undoes exactly that.
	f.clock.Add(time.Hour)
	rel, err := Release(context.Background(), a.Principal, ReleaseOptions{Audit: f.audit, Clients: oneAccount{"111111111111", f.cl}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Result != ResultReleased || len(f.fake.UserPolicies("mallory")) != 0 ||
		f.fake.KeyStatus("mallory", "AKIAMALLORY000000001") != "Active" || f.fake.KeyStatus("mallory", "AKIAMALLORY000000002") != "Inactive" {
		t.Fatalf("after release: %+v policies %v", rel, f.fake.UserPolicies("mallory"))
	}
	if _, err := Release(context.Background(), a.Principal, ReleaseOptions{Audit: f.audit, Clients: oneAccount{"111111111111", f.cl}}); !errors.Is(err, ErrNoAuditRecord) {
		t.Fatalf("second release: %v", err)
	}
}

func TestQuarantineAssumedRoleRevokesOlderSessions(t *testing.T) {
	f := newQuarantine(t, nil)
	f.fake.AddRole("ci-deploy")
	a := testAlert("arn:aws:iam::111111111111:role/service/ci-deploy", "AssumedRole")
	if err := f.q.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"TrailwatchQuarantine","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2025-03-01T02:00:00Z"}}}]}`
	want := []awsquery.Call{{Service: "iam", Action: "PutRolePolicy", Params: params("RoleName", "ci-deploy", "PolicyName", "TrailwatchQuarantine", "PolicyDocument", doc)}}
	if got := f.fake.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n got %v\nwant %v", got, want)
	}
	// Someone removed the policy by hand; release still succeeds.
	f.fake.Fail("DeleteRolePolicy", 404, "NoSuchEntity", "The role policy with name TrailwatchQuarantine cannot be found.")
	rel, err := Release(context.Background(), a.Principal, ReleaseOptions{Audit: f.audit, Clients: oneAccount{"111111111111", f.cl}})
	if err != nil || rel.Result != ResultReleased || !strings.Contains(rel.Calls[0].Error, "NoSuchEntity") {
		t.Fatalf("release: %v %+v", err, rel)
	}
}

func TestQuarantineInstanceSwapsSecurityGroups(t *testing.T) {
	f := newQuarantine(t, nil)
	f.fake.AddENI("eni-0000000000000000b", awsquery.ENI{VPC: "vpc-0a1b2c3d", Instance: "i-0123456789abcdef0", Groups: []string{"sg-00000001", "sg-00000002"}})
	f.fake.AddENI("eni-0000000000000000a", awsquery.ENI{VPC: "vpc-0a1b2c3d", Instance: "i-0123456789abcdef0", Groups: []string{"sg-00000003"}})
	f.fake.AddENI("eni-0000000000000000c", awsquery.ENI{VPC: "vpc-0a1b2c3d", Instance: "i-0ffffffffffffffff", Groups: []string{"sg-00000003"}})
	a := testAlert("i-0123456789abcdef0", "Instance")
	a.Source, a.Metric = "vpcflow", "egress_bytes"
	if err := f.q.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := []string{"ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute", "ec2:ModifyNetworkInterfaceAttribute"}
	if got := f.fake.Actions(); !slices.Equal(got, want) {
		t.Fatalf("calls %v", got)
	}
	calls := f.fake.Calls()
	if got := calls[0].Params; !reflect.DeepEqual(got, params("Filter.1.Name", "attachment.instance-id", "Filter.1.Value.1", "i-0123456789abcdef0")) {
		t.Fatalf("describe params %v", got)
	}
	if got := calls[1].Params; !reflect.DeepEqual(got, params("NetworkInterfaceId", "eni-0000000000000000a", "SecurityGroupId.1", "sg-0badc0de")) {
		t.Fatalf("modify params %v", got)
	}
	if g := f.fake.ENIGroups("eni-0000000000000000b"); !slices.Equal(g, []string{"sg-0badc0de"}) {
		t.Fatalf("groups %v", g)
	}
	if g := f.fake.ENIGroups("eni-0000000000000000c"); !slices.Equal(g, []string{"sg-00000003"}) {
		t.Fatalf("other instance touched: %v", g)
	}
	if _, err := Release(context.Background(), a.Principal, ReleaseOptions{Audit: f.audit, Clients: oneAccount{"111111111111", f.cl}}); err != nil {
		t.Fatal(err)
	}
	if g := f.fake.ENIGroups("eni-0000000000000000b"); !slices.Equal(g, []string{"sg-00000001", "sg-00000002"}) {
		t.Fatalf("restored groups %v", g)
	}
}

func TestQuarantineDryRunMakesOnlyReads(t *testing.T) {
	f := newQuarantine(t, func(c *QuarantineConfig) { c.DryRun = nil })
	f.fake.AddUser("mallory", map[string]string{"AKIAMALLORY000000001": "Active"})
	a := testAlert("arn:aws:iam::111111111111:user/mallory", "IAMUser")
	if err := f.q.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := f.fake.Actions(); !slices.Equal(got, []string{"iam:ListAccessKeys"}) {
		t.Fatalf("dry run made %v", got)
	}
	rec := f.lastRecord(t)
	if rec.Result != ResultDryRun || !rec.DryRun || len(rec.Calls) != 2 || rec.Calls[1].API != "iam:UpdateAccessKey" ||
		rec.Calls[1].Params["AccessKeyId"] != "AKIAMALLORY000000001" || rec.Calls[0].Made {
		t.Fatalf("record %+v", rec)
	}
	if act, _ := f.audit.Active(a.Principal); act != nil {
		t.Fatal("a dry run must not count as an active quarantine")
	}
}

func TestQuarantineRails(t *testing.T) {
	for _, tc := range []struct {
		name, principal, typ, account, want string
	}{
		{"root", "111111111111", "Root", "111111111111", ResultNotQuarantinable},
		{"aws service", "ec2.amazonaws.com", "AWSService", "111111111111", ResultNotQuarantinable},
		{"federated", "arn:aws:sts::111111111111:federated-user/bob", "FederatedUser", "111111111111", ResultNotQuarantinable},
		{"user by id only", "AIDAJ45Q7YFFAREXAMPLE", "IAMUser", "111111111111", ResultNotQuarantinable},
		{"service-linked role", "arn:aws:iam::111111111111:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX", "AssumedRole", "111111111111", ResultNotQuarantinable},
		{"own role", "arn:aws:iam::111111111111:role/trailwatch", "AssumedRole", "111111111111", ResultProtected},
		{"own role with path", "arn:aws:iam::111111111111:role/apps/trailwatch", "AssumedRole", "111111111111", ResultProtected},
		{"protected glob", "arn:aws:iam::111111111111:role/breakglass-admin", "AssumedRole", "111111111111", ResultProtected},
		{"other account", "arn:aws:iam::222222222222:user/eve", "IAMUser", "222222222222", ResultNotQuarantinable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newQuarantine(t, nil)
			a := testAlert(tc.principal, tc.typ)
			a.Account = tc.account
			if err := f.q.Deliver(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if calls := f.fake.Calls(); len(calls) != 0 {
				t.Fatalf("AWS called: %v", calls)
			}
			if rec := f.lastRecord(t); rec.Result != tc.want || rec.Reason == "" {
				t.Fatalf("record %+v, want result %s", rec, tc.want)
			}
		})
	}
}

func TestQuarantineRateLimitAndIdempotence(t *testing.T) {
	f := newQuarantine(t, func(c *QuarantineConfig) { c.MaxActionsPerHour = 2 })
	for _, u := range []string{"a", "b", "c", "d"} {
		f.fake.AddRole(u)
	}
	deliver := func(role, window string) string {
		t.Helper()
		a := testAlert("arn:aws:iam::111111111111:role/"+role, "AssumedRole")
		a.WindowStart = window
		a.ID = detect.AlertID(a.Principal, a.Metric, a.WindowStart)
		before := len(readAudit(t, f.audit))
		if err := f.q.Deliver(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		recs := readAudit(t, f.audit)
		if len(recs) == before {
			return ResultDuplicate
		}
		return recs[len(recs)-1].Result
	}
	w := "2025-03-01T01:30:00Z"
	steps := []struct{ role, window, want string }{
		{"a", w, ResultQuarantined},
		{"a", w, ResultDuplicate},                               // re-delivery of the same alert
		{"a", "2025-03-01T01:45:00Z", ResultAlreadyQuarantined}, // a later alert, same principal
		{"b", w, ResultQuarantined},
		{"c", w, ResultRateLimited},
	}
	for i, s := range steps {
		if got := deliver(s.role, s.window); got != s.want {
			t.Fatalf("step %d (%s): %s, want %s", i, s.role, got, s.want)
		}
	}
	f.clock.Add(time.Hour + time.Second)
	if got := deliver("d", w); got != ResultQuarantined {
		t.Fatalf("after an hour: %s", got)
	}
	// A fresh audit log over the same file (a restart) remembers all of it.
	l2, err := OpenAuditLog(f.audit.path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if n, _ := l2.ActionsSince(t0); n != 3 {
		t.Fatalf("actions after reopen: %d", n)
	}
	if seen, _ := l2.Seen(testAlert("arn:aws:iam::111111111111:role/a", "AssumedRole").ID); !seen {
		t.Fatal("alert not remembered")
	}
}

func TestQuarantineErrors(t *testing.T) {
	t.Run("no such user is permanent", func(t *testing.T) {
		f := newQuarantine(t, nil)
		err := f.q.Deliver(context.Background(), testAlert("arn:aws:iam::111111111111:user/ghost", "IAMUser"))
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "NoSuchEntity") {
			t.Fatalf("err %v", err)
		}
		if rec := f.lastRecord(t); rec.Result != ResultFailed {
			t.Fatalf("record %+v", rec)
		}
	})
	t.Run("throttling is retryable", func(t *testing.T) {
		f := newQuarantine(t, nil)
		f.fake.AddRole("r")
		f.fake.Fail("PutRolePolicy", 400, "Throttling", "Rate exceeded")
		err := f.q.Deliver(context.Background(), testAlert("arn:aws:iam::111111111111:role/r", "AssumedRole"))
		if err == nil || errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("partial failure is finished on retry and fully released", func(t *testing.T) {
		f := newQuarantine(t, nil)
		f.fake.AddUser("m", map[string]string{"AKIAM000000000000001": "Active", "AKIAM000000000000002": "Active"})
		f.fake.Fail("UpdateAccessKey", 500, "ServiceFailure", "internal")
		a := testAlert("arn:aws:iam::111111111111:user/m", "IAMUser")
		if err := f.q.Deliver(context.Background(), a); err == nil || errors.Is(err, ErrPermanent) {
			t.Fatalf("first attempt: %v", err)
		}
		if err := f.q.Deliver(context.Background(), a); err != nil {
			t.Fatalf("retry: %v", err)
		}
		rec := f.lastRecord(t)
		if rec.Result != ResultQuarantined || !slices.Equal(rec.Previous.AccessKeys, []string{"AKIAM000000000000001", "AKIAM000000000000002"}) {
			t.Fatalf("record %+v", rec)
		}
		if _, err := Release(context.Background(), a.Principal, ReleaseOptions{Audit: f.audit, Clients: oneAccount{"111111111111", f.cl}}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"AKIAM000000000000001", "AKIAM000000000000002"} {
			if f.fake.KeyStatus("m", k) != "Active" {
				t.Fatalf("%s not reactivated", k)
			}
		}
	})
	t.Run("vpc without quarantine group", func(t *testing.T) {
		f := newQuarantine(t, nil)
		f.fake.AddENI("eni-0000000000000000d", awsquery.ENI{VPC: "vpc-99999999", Groups: []string{"sg-00000001"}})
		a := testAlert("eni-0000000000000000d", "NetworkInterface")
		if err := f.q.Deliver(context.Background(), a); !errors.Is(err, ErrPermanent) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestReleaseDryRun(t *testing.T) {
	f := newQuarantine(t, nil)
	f.fake.AddRole("r")
	a := testAlert("arn:aws:iam::111111111111:role/r", "AssumedRole")
	if err := f.q.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	rec, err := Release(context.Background(), a.Principal, ReleaseOptions{Audit: f.audit, Clients: oneAccount{"111111111111", f.cl}, DryRun: true})
	if err != nil || rec.Result != ResultDryRun || rec.Calls[0].API != "iam:DeleteRolePolicy" {
		t.Fatalf("%v %+v", err, rec)
	}
	if len(f.fake.RolePolicies("r")) != 1 {
		t.Fatal("dry-run release removed the policy")
	}
	if act, _ := f.audit.Active(a.Principal); act == nil {
		t.Fatal("dry-run release ended the quarantine")
	}
}
