package cloudtrail

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// withIdentity builds a record around a userIdentity (and optional extra
// top-level fields), shaped as CloudTrail writes them.
func withIdentity(identity, extra string) string {
	r := `{"eventVersion":"1.09","eventTime":"2024-05-01T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-2","sourceIPAddress":"198.51.100.4","eventID":"e-1","eventType":"AwsApiCall","recipientAccountId":"111122223333"`
	if identity != "" {
		r += `,"userIdentity":` + identity
	}
	if extra != "" {
		r += "," + extra
	}
	return r + "}"
}

// TestPrincipal covers every userIdentity type, with the shapes CloudTrail
// writes (from the CloudTrail User Guide's userIdentity examples and the
// corpus), and checks that AppendRecord inverts each resolution.
func TestPrincipal(t *testing.T) {
	tests := []struct {
		name     string
		identity string
		extra    string
		want     ingest.Principal // zero Key: rejected with no_principal
	}{
		{"Root", `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""}`, "",
			ingest.Principal{Key: "111122223333", Type: ingest.PrincipalRoot, Account: "111122223333"}},
		{"Root without accountId uses the recipient account", `{"type":"Root","userName":"root"}`, "",
			ingest.Principal{Key: "111122223333", Type: ingest.PrincipalRoot, Account: "111122223333"}},
		{"IAMUser", `{"type":"IAMUser","principalId":"AIDAJ45Q7YFFAREXAMPLE","arn":"arn:aws:iam::123456789012:user/Alice","accountId":"123456789012","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"Alice"}`, "",
			ingest.Principal{Key: "arn:aws:iam::123456789012:user/Alice", Type: ingest.PrincipalIAMUser, Account: "123456789012", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}},
		{"IAMUser console sign-in without arn (MFA flow): arn rebuilt", `{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","accountId":"111122223333","accessKeyId":"","userName":"anaya"}`, "",
			ingest.Principal{Key: "arn:aws:iam::111122223333:user/anaya", Type: ingest.PrincipalIAMUser, Account: "111122223333"}},
		{"IAMUser rebuilt arn in another partition", `{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","accountId":"111122223333","userName":"anaya"}`, `"awsRegion":"cn-north-1"`,
			ingest.Principal{Key: "arn:aws-cn:iam::111122223333:user/anaya", Type: ingest.PrincipalIAMUser, Account: "111122223333"}},
		{"IAMUser without arn or userName falls back to principalId", `{"type":"IAMUser","principalId":"AIDAJ45Q7YFFAREXAMPLE","accountId":"123456789012"}`, "",
			ingest.Principal{Key: "AIDAJ45Q7YFFAREXAMPLE", Type: ingest.PrincipalIAMUser, Account: "123456789012"}},
		{"AssumedRole keys by the issuing role, session name as SubKey", `{"type":"AssumedRole","principalId":"AROAIDPPEZS35WEXAMPLE:AssumedRoleSessionName","arn":"arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName","accountId":"123456789012","accessKeyId":"ASIAIOSFODNN7EXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAIDPPEZS35WEXAMPLE","arn":"arn:aws:iam::123456789012:role/RoleToBeAssumed","accountId":"123456789012","userName":"RoleToBeAssumed"},"attributes":{"mfaAuthenticated":"false","creationDate":"2013-11-02T01:06:28Z"}}}`, "",
			ingest.Principal{Key: "arn:aws:iam::123456789012:role/RoleToBeAssumed", Type: ingest.PrincipalAssumedRole, Account: "123456789012", SubKey: "MySessionName", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"}},
		{"AssumedRole sourceIdentity wins over the session name", `{"type":"AssumedRole","principalId":"AROAIDPPEZS35WEXAMPLE:session","arn":"arn:aws:sts::123456789012:assumed-role/Admin/session","accountId":"123456789012","sessionContext":{"sourceIdentity":"alice@example.com","sessionIssuer":{"type":"Role","principalId":"AROAIDPPEZS35WEXAMPLE","arn":"arn:aws:iam::123456789012:role/Admin","accountId":"123456789012","userName":"Admin"},"attributes":{"mfaAuthenticated":"false","creationDate":"2024-05-01T09:00:00Z"}}}`, "",
			ingest.Principal{Key: "arn:aws:iam::123456789012:role/Admin", Type: ingest.PrincipalAssumedRole, Account: "123456789012", SubKey: "alice@example.com"}},
		{"AssumedRole through an IAM Identity Center permission set", `{"type":"AssumedRole","principalId":"AROA123456789EXAMPLE:bob.ross@example.com","arn":"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DevAdmin_abc123/bob.ross@example.com","accountId":"123456789012","accessKeyId":"ASIA123456789EXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA123456789EXAMPLE","arn":"arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DevAdmin_abc123","accountId":"123456789012","userName":"AWSReservedSSO_DevAdmin_abc123"},"attributes":{"mfaAuthenticated":"false","creationDate":"2019-01-01T00:00:00Z"}}}`, "",
			ingest.Principal{Key: "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DevAdmin_abc123", Type: ingest.PrincipalAssumedRole, Account: "123456789012", SubKey: "bob.ross@example.com", AccessKeyID: "ASIA123456789EXAMPLE"}},
		{"AssumedRole without sessionContext falls back to the arn", `{"type":"AssumedRole","principalId":"AROAEXAMPLE:user","arn":"arn:aws:sts::123456789012:assumed-role/Admin/user","accountId":"123456789012"}`, "",
			ingest.Principal{Key: "arn:aws:sts::123456789012:assumed-role/Admin/user", Type: ingest.PrincipalAssumedRole, Account: "123456789012", SubKey: "user"}},
		{"AssumedRole with only a principalId", `{"type":"AssumedRole","principalId":"AROAEXAMPLE:user"}`, "",
			ingest.Principal{Key: "AROAEXAMPLE:user", Type: ingest.PrincipalAssumedRole, Account: "111122223333", SubKey: "user"}},
		{"FederatedUser keys by the issuing IAM user", `{"type":"FederatedUser","principalId":"123456789012:Bob","arn":"arn:aws:sts::123456789012:federated-user/Bob","accountId":"123456789012","accessKeyId":"ASIAIOSFODNN7EXAMPLE","sessionContext":{"sessionIssuer":{"type":"IAMUser","principalId":"AIDAJ45Q7YFFAREXAMPLE","arn":"arn:aws:iam::123456789012:user/Alice","accountId":"123456789012","userName":"Alice"},"attributes":{"mfaAuthenticated":"false","creationDate":"2024-05-01T09:00:00Z"}}}`, "",
			ingest.Principal{Key: "arn:aws:iam::123456789012:user/Alice", Type: ingest.PrincipalFederatedUser, Account: "123456789012", SubKey: "Bob", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"}},
		{"FederatedUser without sessionContext", `{"type":"FederatedUser","principalId":"123456789012:federated-user","arn":"arn:aws:sts::123456789012:federated-user/federated-user","accountId":"123456789012","accessKeyId":"ASIA123456789EXAMPLE"}`, "",
			ingest.Principal{Key: "arn:aws:sts::123456789012:federated-user/federated-user", Type: ingest.PrincipalFederatedUser, Account: "123456789012", SubKey: "federated-user", AccessKeyID: "ASIA123456789EXAMPLE"}},
		{"AWSService keys by the service, account from the recipient", `{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}`, "",
			ingest.Principal{Key: "ec2.amazonaws.com", Type: ingest.PrincipalAWSService, Account: "111122223333"}},
		{"AWSAccount keys by the calling account", `{"type":"AWSAccount","principalId":"AROAEXAMPLE:session-name","accountId":"444455556666"}`, "",
			ingest.Principal{Key: "444455556666", Type: ingest.PrincipalAWSAccount, Account: "444455556666", SubKey: "AROAEXAMPLE:session-name"}},
		{"AWSAccount without accountId", `{"type":"AWSAccount","principalId":"AROAEXAMPLE:session-name"}`, "", ingest.Principal{}},
		{"IdentityCenterUser keys by UserName", `{"type":"IdentityCenterUser","accountId":"123456789012","onBehalfOf":{"userId":"544894e8-80c1-707f-60e3-3ba6510dfac1","identityStoreArn":"arn:aws:identitystore::123456789012:identitystore/d-9067642ac7"},"credentialId":"EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE"}`,
			`"additionalEventData":{"UserName":"jdoe@example.com"}`,
			ingest.Principal{Key: "jdoe@example.com", Type: ingest.PrincipalIdentityCenterUser, Account: "123456789012"}},
		{"IdentityCenterUser falls back to onBehalfOf.userId", `{"type":"IdentityCenterUser","accountId":"123456789012","onBehalfOf":{"userId":"544894e8-80c1-707f-60e3-3ba6510dfac1","identityStoreArn":"arn:aws:identitystore::123456789012:identitystore/d-9067642ac7"},"credentialId":"EXAMPLE"}`, "",
			ingest.Principal{Key: "544894e8-80c1-707f-60e3-3ba6510dfac1", Type: ingest.PrincipalIdentityCenterUser, Account: "123456789012"}},
		{"Role", `{"type":"Role","principalId":"AROAEXAMPLEID","arn":"arn:aws:iam::123456789012:role/Deployer","accountId":"123456789012"}`, "",
			ingest.Principal{Key: "AROAEXAMPLEID", Type: ingest.PrincipalRole, Account: "123456789012"}},
		{"Directory", `{"type":"Directory","principalId":"d-926708eb3f:S-1-5-21-0000","userName":"jdoe","accountId":"123456789012"}`, "",
			ingest.Principal{Key: "d-926708eb3f:S-1-5-21-0000", Type: ingest.PrincipalDirectory, Account: "123456789012"}},
		{"SAMLUser", `{"type":"SAMLUser","principalId":"SampleUkh1i4+ExamplexL/jEvs=:SamlExample","userName":"SamlExample","identityProvider":"bdGOnTesti4+ExamplexL/jEvs="}`, "",
			ingest.Principal{Key: "SampleUkh1i4+ExamplexL/jEvs=:SamlExample", Type: ingest.PrincipalSAMLUser, Account: "111122223333"}},
		{"WebIdentityUser", `{"type":"WebIdentityUser","principalId":"accounts.google.com:application-id.apps.googleusercontent.com:user-id","userName":"user-id","identityProvider":"accounts.google.com"}`, "",
			ingest.Principal{Key: "accounts.google.com:application-id.apps.googleusercontent.com:user-id", Type: ingest.PrincipalWebIdentityUser, Account: "111122223333"}},
		{"WebIdentityUser without principalId falls back to userName", `{"type":"WebIdentityUser","userName":"user-id","identityProvider":"accounts.google.com"}`, "",
			ingest.Principal{Key: "user-id", Type: ingest.PrincipalWebIdentityUser, Account: "111122223333"}},
		{"Unknown", `{"accountId":"<organization master account ID>","principalId":"<internal victim user id>","type":"Unknown","userName":"<victim display name>"}`, "",
			ingest.Principal{Key: "<internal victim user id>", Type: ingest.PrincipalUnknown, Account: "<organization master account ID>"}},
		{"Unknown with only an account", `{"type":"Unknown","accountId":"123456789012"}`, "",
			ingest.Principal{Key: "123456789012", Type: ingest.PrincipalUnknown, Account: "123456789012"}},
		{"typeless AWS-internal service event keys by invokedBy", `{"accountId":"123456789012","invokedBy":"AWS Internal"}`, "",
			ingest.Principal{Key: "AWS Internal", Type: ingest.PrincipalUnknown, Account: "123456789012"}},
		{"flow-log type names are not CloudTrail types", `{"type":"Instance","principalId":"i-0123"}`, "",
			ingest.Principal{Key: "i-0123", Type: ingest.PrincipalUnknown, Account: "111122223333"}},
		{"Unknown with nothing usable", `{"type":"Unknown"}`, "", ingest.Principal{}},
		{"empty userIdentity", `{}`, "", ingest.Principal{}},
		{"null userIdentity", `null`, "", ingest.Principal{}},
		{"no userIdentity", ``, "", ingest.Principal{}},
	}
	d := NewDecoder(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &recSink{}
			d.DecodeRecord([]byte(withIdentity(tc.identity, tc.extra)), ingest.FilePos("t"), s)
			if len(s.out) != 1 {
				t.Fatalf("%d outcomes", len(s.out))
			}
			o := s.out[0]
			if tc.want.Key == "" {
				if o.Kind != "reject" || o.Reason != ingest.ReasonNoPrincipal {
					t.Fatalf("got %v, want no_principal", o)
				}
				return
			}
			if o.Kind != "event" {
				t.Fatalf("got %v", o)
			}
			if o.Event.Principal != tc.want {
				t.Errorf("principal\n got %+v\nwant %+v", o.Event.Principal, tc.want)
			}
			checkRoundTrip(t, d, &o.Event)
		})
	}
}

// checkRoundTrip asserts that AppendRecord -> DecodeRecord gives ev back.
func checkRoundTrip(t *testing.T, d *Decoder, ev *ingest.Event) {
	t.Helper()
	rec := AppendRecord(nil, ev)
	s := &recSink{}
	d.DecodeRecord(rec, ev.Pos, s)
	if len(s.out) != 1 || s.out[0].Kind != "event" {
		t.Fatalf("AppendRecord output %s decodes to %v", rec, s.out)
	}
	if got := s.out[0].Event; !sameEvent(&got, ev) {
		t.Fatalf("round trip through %s\n got %s\nwant %s", rec, eventLine(&got), eventLine(ev))
	}
}

// sameEvent compares events, Pos aside (times by instant).
func sameEvent(a, b *ingest.Event) bool {
	x, y := *a, *b
	x.Pos, y.Pos = ingest.Position{}, ingest.Position{}
	if !x.Time.Equal(y.Time) {
		return false
	}
	x.Time, y.Time = time.Time{}, time.Time{}
	return x == y
}

func TestEventFields(t *testing.T) {
	d := NewDecoder(Options{})
	s := &recSink{}
	d.DecodeRecord([]byte(recS3), ingest.FilePos("t"), s)
	ev := s.out[0].Event
	want := ingest.Event{
		Time:   time.Date(2024, 3, 5, 9, 30, 12, 0, time.UTC),
		Source: ingest.SourceCloudTrail,
		Principal: ingest.Principal{Key: "arn:aws:iam::111122223333:role/service/DataPipelineRole", Type: ingest.PrincipalAssumedRole,
			Account: "111122223333", SubKey: "etl-job-7", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"},
		Action:      "s3.amazonaws.com:GetObject",
		Region:      "eu-west-1",
		SourceIP:    netip.MustParseAddr("198.51.100.23"),
		EventID:     "0f6b3c2d-9a8e-4b7c-8d6e-5f4a3b2c1d0e",
		EgressBytes: 8388608,
		Pos:         ingest.FilePos("t"),
	}
	if ev != want {
		t.Errorf("got  %+v\nwant %+v", ev, want)
	}

	for _, tc := range []struct{ field, want string }{
		{`"sourceIPAddress":"ec2.amazonaws.com"`, "ip=<none>"},
		{`"sourceIPAddress":"AWS Internal"`, "ip=<none>"},
		{`"sourceIPAddress":"2001:db8::1"`, "ip=2001:db8::1"},
		{`"errorCode":"AccessDenied"`, `error="AccessDenied"`},
		{`"additionalEventData":{"bytesTransferredOut":"1024"}`, "egress=1024"},
		{`"additionalEventData":{"bytesTransferredOut":2048.0}`, "egress=2048"},
		{`"additionalEventData":{"bytesTransferredOut":-5}`, "egress=0"},
		{`"additionalEventData":{"bytesTransferredOut":"lots"}`, "egress=0"},
		{`"requestParameters":"{\n  \"roleName\": \"SomeRole\"\n}"`, `action="sts.amazonaws.com:GetCallerIdentity"`},
	} {
		rec := strings.Replace(withIdentity(`{"type":"Root","accountId":"1"}`, tc.field), `"sourceIPAddress":"198.51.100.4",`, "", 1)
		s := &recSink{}
		d.DecodeRecord([]byte(rec), ingest.FilePos("t"), s)
		if s.out[0].Kind != "event" {
			t.Fatalf("%s: %v", tc.field, s.out[0])
		}
		ev := s.out[0].Event
		line := eventLine(&ev) + fmt.Sprintf(" egress=%d", ev.EgressBytes)
		if !ev.SourceIP.IsValid() {
			line += " ip=<none>"
		}
		if !strings.Contains(line, tc.want) {
			t.Errorf("%s: %s lacks %s", tc.field, line, tc.want)
		}
	}
}

func TestRecordRejects(t *testing.T) {
	tests := []struct {
		rec    string
		reason ingest.Reason
	}{
		{`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"Root","accountId":"1"}}`, ingest.ReasonNoTime},
		{`{"eventTime":null,"eventSource":"s3.amazonaws.com"}`, ingest.ReasonNoTime},
		{`{"eventTime":"","eventSource":"s3.amazonaws.com"}`, ingest.ReasonNoTime},
		{`{"eventTime":1700000000,"eventSource":"s3.amazonaws.com"}`, ingest.ReasonBadTime},
		{`{"eventTime":"2021-05-20 15:53:47","eventSource":"s3.amazonaws.com"}`, ingest.ReasonBadTime},
		{`{"eventTime":"yesterday","eventSource":"s3.amazonaws.com"}`, ingest.ReasonBadTime},
		{`{"eventTime":"2021-05-20T15:53:47Z","eventName":"GetObject","userIdentity":{"type":"Root","accountId":"1"}}`, ingest.ReasonNoAction},
		{`{"eventTime":"2021-05-20T15:53:47Z","eventSource":"s3.amazonaws.com","eventName":7,"userIdentity":{"type":"Root","accountId":"1"}}`, ingest.ReasonNoAction},
		{`{"eventTime":"2021-05-20T15:53:47Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}`, ingest.ReasonNoPrincipal},
		{`{"eventTime":"2021-05-20T15:53:47Z"`, ingest.ReasonMalformedJSON},
		{`[1,2]`, ingest.ReasonMalformedJSON},
		{`"just a string"`, ingest.ReasonMalformedJSON},
	}
	d := NewDecoder(Options{})
	for _, tc := range tests {
		s := &recSink{}
		d.DecodeRecord([]byte(tc.rec), ingest.FilePos("t"), s)
		if len(s.out) != 1 || s.out[0].Reason != tc.reason || s.out[0].Detail == "" || s.out[0].Raw != tc.rec {
			t.Errorf("%s: got %v (raw %q), want %s", tc.rec, s.out, s.out[0].Raw, tc.reason)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    string // RFC 3339 in UTC, or "" for an error
		wantUTC string // with assumeUTC, when different
	}{
		{"2021-05-20T15:53:47Z", "2021-05-20T15:53:47Z", ""},
		{"2021-05-20 15:53:47Z", "2021-05-20T15:53:47Z", ""},
		{"2021-05-20t15:53:47z", "2021-05-20T15:53:47Z", ""},
		{"2021-05-20T15:53:47.123456789Z", "2021-05-20T15:53:47.123456789Z", ""},
		{"2021-05-20T15:53:47.1234567891Z", "2021-05-20T15:53:47.123456789Z", ""},
		{"2021-05-20T15:53:47.5+02:00", "2021-05-20T13:53:47.5Z", ""},
		{"2021-05-20T23:53:47-05:30", "2021-05-21T05:23:47Z", ""},
		{"2020-02-29T00:00:00Z", "2020-02-29T00:00:00Z", ""},
		{"2021-05-20 15:53:47", "", "2021-05-20T15:53:47Z"},
		{"2021-08-31 15:46:02.000000000", "", "2021-08-31T15:46:02Z"},
		{"2021-05-20T15:53:47.Z", "", ""},
		{"2021-02-29T00:00:00Z", "", ""},
		{"2021-05-20T24:00:00Z", "", ""},
		{"2021-05-20T15:53:60Z", "", ""},
		{"2021-05-20T15:53:47+2:00", "", ""},
		{"2021-05-20T15:53:47Z ", "", ""},
		{"2021-05-20", "", ""},
		{"9999-12-31T23:59:59-01:00", "", ""},
		{"redacted", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		for _, utc := range []bool{false, true} {
			want := tc.want
			if utc && tc.wantUTC != "" {
				want = tc.wantUTC
			}
			got, err := parseTime([]byte(tc.in), utc)
			if want == "" {
				if err == "" {
					t.Errorf("parseTime(%q, %v) = %v, want error", tc.in, utc, got)
				}
				continue
			}
			if err != "" || got.Format(time.RFC3339Nano) != want || got.Location() != time.UTC {
				t.Errorf("parseTime(%q, %v) = %v, %q; want %s", tc.in, utc, got, err, want)
			}
		}
	}
}
