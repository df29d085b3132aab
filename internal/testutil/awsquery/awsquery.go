// Package awsquery is an in-process fake of the AWS Query-protocol APIs
// trailwatch's quarantine uses (IAM, EC2, STS), for tests. No emulator of
// these exists that checks what matters, so this one does: it verifies each
// request's SigV4 signature by re-signing it with the SDK's own signer,
// rejects any action or parameter it does not expect, keeps a small model
// of users, keys, roles and network interfaces, and answers with the XML
// documents (and error documents and status codes) AWS sends.
package awsquery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Test credentials every client of the fake must sign with.
const (
	AccessKey = "AKIDFAKEQUARANTINE00"
	SecretKey = "fake-secret-key-for-sigv4-verification"
	Region    = "us-east-1"
)

// Credentials returns a provider of the test credentials.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
}

// Config returns an aws.Config for the fake: test credentials, region and
// no SDK retries (a retry would sleep).
func Config() aws.Config {
	return aws.Config{Region: Region, Credentials: Credentials(),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
}

// Call is one accepted request.
type Call struct {
	Service string // iam, ec2, sts
	Action  string
	Params  url.Values // without Action and Version
}

// ENI is a modelled network interface.
type ENI struct {
	VPC      string
	Instance string
	Groups   []string
}

// Server is the fake. Its model is exported for tests to set up and
// inspect; hold no references across calls (use the methods).
type Server struct {
	URL string
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	calls    []Call
	failures map[string][]fault
	// Identity is what GetCallerIdentity answers.
	Identity struct{ Arn, Account, UserID string }
	users    map[string]*user
	roles    map[string]map[string]string // role -> policy name -> document
	enis     map[string]*ENI
}

type user struct {
	keys     map[string]string // id -> Active|Inactive
	policies map[string]string
}

type fault struct {
	status    int
	code, msg string
}

// New starts a fake for the test.
func New(t testing.TB) *Server {
	s := &Server{t: t, failures: map[string][]fault{}, users: map[string]*user{},
		roles: map[string]map[string]string{}, enis: map[string]*ENI{}}
	s.Identity.Arn = "arn:aws:sts::111111111111:assumed-role/trailwatch/i-0trailwatch"
	s.Identity.Account = "111111111111"
	s.Identity.UserID = "AROAFAKE:i-0trailwatch"
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// AddUser models an IAM user with access keys (id -> "Active"/"Inactive").
func (s *Server) AddUser(name string, keys map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{keys: map[string]string{}, policies: map[string]string{}}
	for k, v := range keys {
		u.keys[k] = v
	}
	s.users[name] = u
}

// AddRole models an IAM role.
func (s *Server) AddRole(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[name] = map[string]string{}
}

// AddENI models a network interface.
func (s *Server) AddENI(id string, e ENI) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := e
	c.Groups = slices.Clone(e.Groups)
	s.enis[id] = &c
}

// UserPolicies returns a user's inline policies (name -> document).
func (s *Server) UserPolicies(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		out := map[string]string{}
		for k, v := range u.policies {
			out[k] = v
		}
		return out
	}
	return nil
}

// RolePolicies returns a role's inline policies.
func (s *Server) RolePolicies(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.roles[name] {
		out[k] = v
	}
	return out
}

// KeyStatus returns an access key's status.
func (s *Server) KeyStatus(userName, key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userName]; u != nil {
		return u.keys[key]
	}
	return ""
}

// ENIGroups returns a network interface's security groups.
func (s *Server) ENIGroups(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.enis[id]; e != nil {
		return slices.Clone(e.Groups)
	}
	return nil
}

// Fail makes the next request for action fail with an AWS error document.
func (s *Server) Fail(action string, status int, code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[action] = append(s.failures[action], fault{status, code, msg})
}

// Calls returns the accepted requests so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Actions returns "service:Action" of the accepted requests, in order.
func (s *Server) Actions() []string {
	var out []string
	for _, c := range s.Calls() {
		out = append(out, c.Service+":"+c.Action)
	}
	return out
}

var versions = map[string]string{"iam": "2010-05-08", "ec2": "2016-11-15", "sts": "2011-06-15"}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	service, err := verifySigV4(r, body)
	if err != nil {
		s.t.Errorf("awsquery: %v", err)
		writeError(w, "iam", http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.t.Errorf("awsquery: %s with Content-Type %q, want a form POST", r.Method, r.Header.Get("Content-Type"))
		writeError(w, service, http.StatusBadRequest, "InvalidRequest", "want a form POST")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, service, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	action, version := form.Get("Action"), form.Get("Version")
	form.Del("Action")
	form.Del("Version")
	if version != versions[service] {
		s.t.Errorf("awsquery: %s %s with Version %q, want %q", service, action, version, versions[service])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.failures[action]; len(f) > 0 {
		s.failures[action] = f[1:]
		s.calls = append(s.calls, Call{service, action, form})
		writeError(w, service, f[0].status, f[0].code, f[0].msg)
		return
	}
	h, ok := handlers[service+":"+action]
	if !ok {
		s.t.Errorf("awsquery: unexpected action %s:%s", service, action)
		writeError(w, service, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action)
		return
	}
	for k := range form {
		if !h.allowed(k) {
			s.t.Errorf("awsquery: %s:%s with unexpected parameter %s=%q", service, action, k, form.Get(k))
		}
	}
	s.calls = append(s.calls, Call{service, action, form})
	status, out := h.fn(s, form)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	io.WriteString(w, out)
}

// verifySigV4 re-signs the request with the SDK signer and compares; it
// returns the service from the credential scope.
func verifySigV4(r *http.Request, body []byte) (string, error) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return "", fmt.Errorf("request not signed with SigV4: %q", auth)
	}
	parts := map[string]string{}
	for _, p := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[k] = v
	}
	scope := strings.Split(parts["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 || scope[0] != AccessKey || scope[4] != "aws4_request" {
		return "", fmt.Errorf("bad credential scope %q", parts["Credential"])
	}
	service := scope[3]
	if _, ok := versions[service]; !ok {
		return "", fmt.Errorf("unknown service %q in credential scope", service)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "", fmt.Errorf("bad X-Amz-Date: %v", err)
	}
	if when.Format("20060102") != scope[1] {
		return "", fmt.Errorf("scope date %s does not match X-Amz-Date", scope[1])
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payload {
		return "", fmt.Errorf("X-Amz-Content-Sha256 does not match the body")
	}
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	re, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	re.ContentLength = int64(len(body))
	for _, h := range strings.Split(parts["SignedHeaders"], ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	creds, _ := Credentials().Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, re, payload, service, scope[2], when); err != nil {
		return "", err
	}
	if got, want := auth, re.Header.Get("Authorization"); got != want {
		return "", fmt.Errorf("signature mismatch:\n got  %s\n want %s", got, want)
	}
	return service, nil
}

const requestID = "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"

// writeError answers with the service's error document.
func writeError(w http.ResponseWriter, service string, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	if service == "ec2" {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
			html.EscapeString(code), html.EscapeString(msg), requestID)
		return
	}
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xmlns(service), typ, html.EscapeString(code), html.EscapeString(msg), requestID)
}

func xmlns(service string) string {
	switch service {
	case "ec2":
		return "http://ec2.amazonaws.com/doc/2016-11-15/"
	case "sts":
		return "https://sts.amazonaws.com/doc/2011-06-15/"
	}
	return "https://iam.amazonaws.com/doc/2010-05-08/"
}

type handler struct {
	params []string // allowed parameters; a trailing ".*" allows an indexed list
	fn     func(s *Server, f url.Values) (int, string)
}

func (h handler) allowed(k string) bool {
	for _, p := range h.params {
		if p == k || strings.HasSuffix(p, ".*") && strings.HasPrefix(k, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

func iamOK(action, result string) (int, string) {
	if result != "" {
		result = "<" + action + "Result>" + result + "</" + action + "Result>"
	}
	return 200, fmt.Sprintf(`<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, xmlns("iam"), result, requestID, action)
}

func iamErr(status int, code, msg string) (int, string) {
	return status, fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xmlns("iam"), code, html.EscapeString(msg), requestID)
}

func ec2Err(status int, code, msg string) (int, string) {
	return status, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
		code, html.EscapeString(msg), requestID)
}

func noSuchUser(name string) (int, string) {
	return iamErr(404, "NoSuchEntity", "The user with name "+name+" cannot be found.")
}

func validPolicy(doc string) bool {
	var p struct {
		Version   string
		Statement []map[string]any
	}
	return json.Unmarshal([]byte(doc), &p) == nil && p.Version == "2012-10-17" && len(p.Statement) > 0
}

var handlers = map[string]handler{
	"sts:GetCallerIdentity": {nil, func(s *Server, f url.Values) (int, string) {
		return 200, fmt.Sprintf(`<GetCallerIdentityResponse xmlns="%s"><GetCallerIdentityResult><Arn>%s</Arn><UserId>%s</UserId><Account>%s</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
			xmlns("sts"), s.Identity.Arn, s.Identity.UserID, s.Identity.Account, requestID)
	}},
	"iam:PutUserPolicy": {[]string{"UserName", "PolicyName", "PolicyDocument"}, func(s *Server, f url.Values) (int, string) {
		u := s.users[f.Get("UserName")]
		if u == nil {
			return noSuchUser(f.Get("UserName"))
		}
		if !validPolicy(f.Get("PolicyDocument")) {
			return iamErr(400, "MalformedPolicyDocument", "Syntax errors in policy.")
		}
		u.policies[f.Get("PolicyName")] = f.Get("PolicyDocument")
		return iamOK("PutUserPolicy", "")
	}},
	"iam:DeleteUserPolicy": {[]string{"UserName", "PolicyName"}, func(s *Server, f url.Values) (int, string) {
		u := s.users[f.Get("UserName")]
		if u == nil {
			return noSuchUser(f.Get("UserName"))
		}
		if _, ok := u.policies[f.Get("PolicyName")]; !ok {
			return iamErr(404, "NoSuchEntity", "The user policy with name "+f.Get("PolicyName")+" cannot be found.")
		}
		delete(u.policies, f.Get("PolicyName"))
		return iamOK("DeleteUserPolicy", "")
	}},
	"iam:ListAccessKeys": {[]string{"UserName", "Marker", "MaxItems"}, func(s *Server, f url.Values) (int, string) {
		u := s.users[f.Get("UserName")]
		if u == nil {
			return noSuchUser(f.Get("UserName"))
		}
		ids := make([]string, 0, len(u.keys))
		for k := range u.keys {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		var b strings.Builder
		for _, k := range ids {
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><AccessKeyId>%s</AccessKeyId><Status>%s</Status><CreateDate>2024-01-02T03:04:05Z</CreateDate></member>`,
				html.EscapeString(f.Get("UserName")), k, u.keys[k])
		}
		return iamOK("ListAccessKeys", "<AccessKeyMetadata>"+b.String()+"</AccessKeyMetadata><IsTruncated>false</IsTruncated>")
	}},
	"iam:UpdateAccessKey": {[]string{"UserName", "AccessKeyId", "Status"}, func(s *Server, f url.Values) (int, string) {
		u := s.users[f.Get("UserName")]
		if u == nil {
			return noSuchUser(f.Get("UserName"))
		}
		if _, ok := u.keys[f.Get("AccessKeyId")]; !ok {
			return iamErr(404, "NoSuchEntity", "The Access Key with id "+f.Get("AccessKeyId")+" cannot be found.")
		}
		if st := f.Get("Status"); st != "Active" && st != "Inactive" {
			return iamErr(400, "ValidationError", "1 validation error detected: Value at 'status' failed to satisfy constraint")
		}
		u.keys[f.Get("AccessKeyId")] = f.Get("Status")
		return iamOK("UpdateAccessKey", "")
	}},
	"iam:PutRolePolicy": {[]string{"RoleName", "PolicyName", "PolicyDocument"}, func(s *Server, f url.Values) (int, string) {
		r, ok := s.roles[f.Get("RoleName")]
		if !ok {
			return iamErr(404, "NoSuchEntity", "The role with name "+f.Get("RoleName")+" cannot be found.")
		}
		if !validPolicy(f.Get("PolicyDocument")) {
			return iamErr(400, "MalformedPolicyDocument", "Syntax errors in policy.")
		}
		r[f.Get("PolicyName")] = f.Get("PolicyDocument")
		return iamOK("PutRolePolicy", "")
	}},
	"iam:DeleteRolePolicy": {[]string{"RoleName", "PolicyName"}, func(s *Server, f url.Values) (int, string) {
		r, ok := s.roles[f.Get("RoleName")]
		if !ok {
			return iamErr(404, "NoSuchEntity", "The role with name "+f.Get("RoleName")+" cannot be found.")
		}
		if _, ok := r[f.Get("PolicyName")]; !ok {
			return iamErr(404, "NoSuchEntity", "The role policy with name "+f.Get("PolicyName")+" cannot be found.")
		}
		delete(r, f.Get("PolicyName"))
		return iamOK("DeleteRolePolicy", "")
	}},
	"ec2:DescribeNetworkInterfaces": {[]string{"NetworkInterfaceId.*", "Filter.*", "NextToken", "MaxResults", "DryRun"}, func(s *Server, f url.Values) (int, string) {
		var ids []string
		for i := 1; f.Has("NetworkInterfaceId." + strconv.Itoa(i)); i++ {
			id := f.Get("NetworkInterfaceId." + strconv.Itoa(i))
			if s.enis[id] == nil {
				return ec2Err(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '"+id+"' does not exist")
			}
			ids = append(ids, id)
		}
		if f.Has("Filter.1.Name") {
			if f.Get("Filter.1.Name") != "attachment.instance-id" || f.Has("Filter.2.Name") {
				return ec2Err(400, "InvalidParameterValue", "unsupported filter in the fake")
			}
			for id, e := range s.enis {
				for j := 1; f.Has("Filter.1.Value." + strconv.Itoa(j)); j++ {
					if e.Instance == f.Get("Filter.1.Value."+strconv.Itoa(j)) {
						ids = append(ids, id)
					}
				}
			}
		}
		sort.Strings(ids)
		var b strings.Builder
		for _, id := range ids {
			e := s.enis[id]
			fmt.Fprintf(&b, `<item><networkInterfaceId>%s</networkInterfaceId><vpcId>%s</vpcId><status>in-use</status><groupSet>`, id, e.VPC)
			for _, g := range e.Groups {
				fmt.Fprintf(&b, `<item><groupId>%s</groupId><groupName>%s-name</groupName></item>`, g, g)
			}
			b.WriteString(`</groupSet>`)
			if e.Instance != "" {
				fmt.Fprintf(&b, `<attachment><instanceId>%s</instanceId><status>attached</status></attachment>`, e.Instance)
			}
			b.WriteString(`</item>`)
		}
		return 200, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<DescribeNetworkInterfacesResponse xmlns="%s"><requestId>%s</requestId><networkInterfaceSet>%s</networkInterfaceSet></DescribeNetworkInterfacesResponse>`,
			xmlns("ec2"), requestID, b.String())
	}},
	"ec2:ModifyNetworkInterfaceAttribute": {[]string{"NetworkInterfaceId", "SecurityGroupId.*"}, func(s *Server, f url.Values) (int, string) {
		e := s.enis[f.Get("NetworkInterfaceId")]
		if e == nil {
			return ec2Err(400, "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '"+f.Get("NetworkInterfaceId")+"' does not exist")
		}
		var groups []string
		for i := 1; f.Has("SecurityGroupId." + strconv.Itoa(i)); i++ {
			groups = append(groups, f.Get("SecurityGroupId."+strconv.Itoa(i)))
		}
		if len(groups) == 0 {
			return ec2Err(400, "MissingParameter", "The request must contain the parameter groupId")
		}
		e.Groups = groups
		return 200, fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<ModifyNetworkInterfaceAttributeResponse xmlns="%s"><requestId>%s</requestId><return>true</return></ModifyNetworkInterfaceAttributeResponse>`,
			xmlns("ec2"), requestID)
	}},
}
