package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/detect"
)

// QuarantineSinkName is the quarantine action's name in metrics, logs and
// parked headers.
const QuarantineSinkName = "quarantine"

type iamAPI interface {
	PutUserPolicy(ctx context.Context, in *iam.PutUserPolicyInput, optFns ...func(*iam.Options)) (*iam.PutUserPolicyOutput, error)
	DeleteUserPolicy(ctx context.Context, in *iam.DeleteUserPolicyInput, optFns ...func(*iam.Options)) (*iam.DeleteUserPolicyOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, optFns ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, optFns ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, optFns ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, optFns ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
}

type ec2API interface {
	DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	ModifyNetworkInterfaceAttribute(ctx context.Context, in *ec2.ModifyNetworkInterfaceAttributeInput, optFns ...func(*ec2.Options)) (*ec2.ModifyNetworkInterfaceAttributeOutput, error)
}

// Clients are the AWS clients quarantine uses in one account; *iam.Client
// and *ec2.Client satisfy them.
type Clients struct {
	IAM iamAPI
	EC2 ec2API
}

// ClientSource returns the clients for a principal's account, or an error
// wrapping ErrOtherAccount when trailwatch has no way into it.
type ClientSource interface {
	ForAccount(ctx context.Context, account string) (Clients, error)
}

// QuarantineOptions are the dependencies of NewQuarantine.
type QuarantineOptions struct {
	Config  QuarantineConfig
	Clients ClientSource
	Audit   *AuditLog
	// Self is trailwatch's own identity (an IAM user ARN or an STS
	// assumed-role ARN, as GetCallerIdentity returns it): always protected.
	Self   string
	Now    func() time.Time // default time.Now
	Logger *zap.Logger      // default zap.NewNop
	// Metrics, if set, counts actions by result.
	Metrics *Metrics
}

// Quarantine contains the principal of an alert, within the safety rails:
// it is a Sink whose Deliver returns nil for every alert-only outcome
// (protected, not quarantinable, rate limited, dry-run) and an error only
// when a live call failed, so the responder retries and finally parks.
type Quarantine struct {
	cfg     QuarantineConfig
	clients ClientSource
	audit   *AuditLog
	self    string
	now     func() time.Time
	log     *zap.Logger
	metrics *Metrics
}

var _ Sink = (*Quarantine)(nil)

// NewQuarantine returns the quarantine action.
func NewQuarantine(o QuarantineOptions) (*Quarantine, error) {
	if o.Audit == nil || o.Clients == nil {
		return nil, errors.New("quarantine: audit log and clients are required")
	}
	if o.Self == "" {
		return nil, errors.New("quarantine: own identity unknown: cannot protect it")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Config.PolicyName == "" {
		o.Config.PolicyName = Defaults().Quarantine.PolicyName
	}
	return &Quarantine{cfg: o.Config, clients: o.Clients, audit: o.Audit, self: o.Self, now: o.Now, log: o.Logger, metrics: o.Metrics}, nil
}

// Name implements Sink.
func (q *Quarantine) Name() string { return QuarantineSinkName }

// target is what an alert's principal resolves to.
type target struct {
	kind     string // "user", "role", "instance", "eni"
	name     string // user or role name, instance or ENI id
	account  string
	reason   string // set when not quarantinable
	resource string
}

// parseTarget maps a principal to what quarantine would change.
func parseTarget(a *detect.Alert) target {
	t := target{account: a.Account}
	switch a.PrincipalType {
	case "IAMUser":
		acc, res, ok := iamARN(a.Principal)
		if !ok || !strings.HasPrefix(res, "user/") {
			t.reason = "IAM user key is not a user ARN"
			return t
		}
		t.kind, t.name, t.account = "user", res[strings.LastIndexByte(res, '/')+1:], acc
	case "AssumedRole":
		acc, res, ok := iamARN(a.Principal)
		if !ok || !strings.HasPrefix(res, "role/") {
			t.reason = "assumed role key is not a role ARN"
			return t
		}
		if strings.HasPrefix(res, "role/aws-service-role/") || strings.HasPrefix(res, "role/aws-reserved/") {
			t.reason = "service-linked and IAM Identity Center roles cannot carry inline policies"
			return t
		}
		t.kind, t.name, t.account = "role", res[strings.LastIndexByte(res, '/')+1:], acc
	case "Instance":
		if !strings.HasPrefix(a.Principal, "i-") {
			t.reason = "instance key is not an instance id"
			return t
		}
		t.kind, t.name = "instance", a.Principal
	case "NetworkInterface":
		if !strings.HasPrefix(a.Principal, "eni-") {
			t.reason = "network interface key is not an ENI id"
			return t
		}
		t.kind, t.name = "eni", a.Principal
	case "Root", "AWSService":
		t.reason = a.PrincipalType + " is never quarantined"
	default:
		t.reason = "no quarantine for principal type " + a.PrincipalType
	}
	return t
}

// iamARN splits arn:PARTITION:iam::ACCOUNT:RESOURCE.
func iamARN(s string) (account, resource string, ok bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "iam" || len(p[4]) != 12 {
		return "", "", false
	}
	return p[4], p[5], true
}

// isSelf reports whether principal is trailwatch's own identity. For an
// assumed role the STS ARN names the role without its path, so any role of
// that name in that account matches.
func isSelf(self, principal string) bool {
	if self == principal {
		return true
	}
	p := strings.SplitN(self, ":", 6)
	if len(p) != 6 || p[2] != "sts" || !strings.HasPrefix(p[5], "assumed-role/") {
		return false
	}
	role := strings.SplitN(strings.TrimPrefix(p[5], "assumed-role/"), "/", 2)[0]
	acc, res, ok := iamARN(principal)
	return ok && acc == p[4] && strings.HasPrefix(res, "role/") && res[strings.LastIndexByte(res, '/')+1:] == role
}

// Protected reports whether the rails forbid touching principal.
func (q *Quarantine) Protected(principal string) bool {
	if isSelf(q.self, principal) {
		return true
	}
	for _, g := range q.cfg.Protected {
		if ok, _ := path.Match(g, principal); ok {
			return true
		}
	}
	return false
}

// denyAll is the user policy; denyOlderSessions the role policy (what the
// console's "Revoke active sessions" writes).
func denyAll() string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"TrailwatchQuarantine","Effect":"Deny","Action":"*","Resource":"*"}]}`
}

func denyOlderSessions(now time.Time) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"TrailwatchQuarantine","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` +
		now.UTC().Format(time.RFC3339) + `"}}}]}`
}

// plannedCall is a Call with the closure that makes it.
type plannedCall struct {
	Call
	do func(ctx context.Context) error
}

// Deliver implements Sink.
func (q *Quarantine) Deliver(ctx context.Context, a *detect.Alert) error {
	rec, err := q.decide(ctx, a)
	if rec == nil {
		if err == nil {
			q.count(ResultDuplicate)
		}
		return err
	}
	q.logRecord(rec)
	q.count(rec.Result)
	if aerr := q.audit.Append(ctx, rec); aerr != nil {
		q.log.Error("audit write failed; the log line above is the only record", zap.String("alert_id", a.ID), zap.Error(aerr))
		if err == nil {
			err = aerr
		}
	}
	return err
}

func (q *Quarantine) count(result string) {
	if q.metrics != nil {
		q.metrics.Actions.WithLabelValues(QuarantineSinkName, result).Inc()
	}
}

func (q *Quarantine) logRecord(rec *AuditRecord) {
	b, _ := json.Marshal(rec)
	lvl := zap.InfoLevel
	if rec.Result == ResultFailed {
		lvl = zap.ErrorLevel
	} else if rec.Result == ResultQuarantined {
		lvl = zap.WarnLevel
	}
	q.log.Check(lvl, "quarantine audit").Write(zap.String("result", rec.Result), zap.String("alert_id", rec.AlertID), zap.ByteString("record", b))
}

// decide runs the rails, plans and (live) makes the calls. A nil record
// means the alert was already handled.
func (q *Quarantine) decide(ctx context.Context, a *detect.Alert) (*AuditRecord, error) {
	seen, err := q.audit.Seen(a.ID)
	if err != nil {
		return nil, err
	}
	if seen {
		return nil, nil
	}
	now := q.now()
	rec := &AuditRecord{Time: now.UTC().Format(time.RFC3339Nano), Action: ActionQuarantine, AlertID: a.ID,
		Principal: a.Principal, PrincipalType: a.PrincipalType, Account: a.Account, DryRun: q.cfg.IsDryRun(), Calls: []Call{}}
	t := parseTarget(a)
	if t.reason != "" {
		rec.Result, rec.Reason = ResultNotQuarantinable, t.reason
		return rec, nil
	}
	if q.Protected(a.Principal) {
		rec.Result, rec.Reason = ResultProtected, "protected principal"
		return rec, nil
	}
	prev, err := q.audit.Active(a.Principal)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Result == ResultQuarantined {
		rec.Result, rec.Reason = ResultAlreadyQuarantined, "quarantined by alert "+prev.AlertID
		return rec, nil
	}
	if prev == nil { // finishing a partial quarantine is not a new action
		n, err := q.audit.ActionsSince(now.Add(-time.Hour))
		if err != nil {
			return nil, err
		}
		if n >= q.cfg.MaxActionsPerHour {
			rec.Result, rec.Reason = ResultRateLimited, fmt.Sprintf("%d actions in the last hour (max_actions_per_hour %d)", n, q.cfg.MaxActionsPerHour)
			return rec, nil
		}
	}
	cl, err := q.clients.ForAccount(ctx, t.account)
	if errors.Is(err, ErrOtherAccount) {
		rec.Result, rec.Reason = ResultNotQuarantinable, "principal in account "+t.account+" and no assume_role configured"
		return rec, nil
	}
	if err != nil {
		rec.Result, rec.Error = ResultFailed, err.Error()
		return rec, err
	}
	calls, prevState, err := q.plan(ctx, cl, t, now)
	if prev != nil && prev.Previous != nil {
		prevState = mergePrevious(prev.Previous, prevState)
	}
	rec.Previous = prevState
	for _, c := range calls {
		rec.Calls = append(rec.Calls, c.Call)
	}
	if err != nil {
		if rec.DryRun { // a dry run is advisory: record what could not be read, never block
			rec.Result, rec.Error = ResultDryRun, err.Error()
			return rec, nil
		}
		rec.Result, rec.Error = ResultFailed, err.Error()
		return rec, classifyAWS(err)
	}
	if rec.DryRun {
		rec.Result = ResultDryRun
		return rec, nil
	}
	for i, c := range calls {
		if err := c.do(ctx); err != nil {
			rec.Calls[i].Error = err.Error()
			rec.Result, rec.Error = ResultFailed, fmt.Sprintf("%s: %v", c.API, err)
			return rec, classifyAWS(fmt.Errorf("%s: %w", c.API, err))
		}
		rec.Calls[i].Made = true
	}
	rec.Result = ResultQuarantined
	return rec, nil
}

// mergePrevious keeps the earliest known state: keys a partial run already
// deactivated and the groups an ENI had before its first swap.
func mergePrevious(old, cur *PreviousState) *PreviousState {
	if cur == nil {
		return old
	}
	out := *cur
	for _, k := range old.AccessKeys {
		if !slices.Contains(out.AccessKeys, k) {
			out.AccessKeys = append(out.AccessKeys, k)
		}
	}
	slices.Sort(out.AccessKeys)
	for _, e := range old.NetworkInterfaces {
		i := slices.IndexFunc(out.NetworkInterfaces, func(c ENIState) bool { return c.ID == e.ID })
		if i >= 0 {
			out.NetworkInterfaces[i] = e
		} else {
			out.NetworkInterfaces = append(out.NetworkInterfaces, e)
		}
	}
	return &out
}

// plan reads what it must (ListAccessKeys, DescribeNetworkInterfaces) and
// returns the write calls in the order they are made. The deny policy goes
// first: it takes effect for every credential at once.
func (q *Quarantine) plan(ctx context.Context, cl Clients, t target, now time.Time) ([]plannedCall, *PreviousState, error) {
	policy := q.cfg.PolicyName
	switch t.kind {
	case "user":
		prev := &PreviousState{UserName: t.name, PolicyName: policy}
		doc := denyAll()
		calls := []plannedCall{{
			Call: Call{API: "iam:PutUserPolicy", Params: map[string]string{"UserName": t.name, "PolicyName": policy, "PolicyDocument": doc}},
			do: func(ctx context.Context) error {
				_, err := cl.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: &t.name, PolicyName: &policy, PolicyDocument: &doc})
				return err
			},
		}}
		keys, err := activeLongTermKeys(ctx, cl.IAM, t.name)
		if err != nil {
			return calls, prev, fmt.Errorf("iam:ListAccessKeys: %w", err)
		}
		for _, k := range keys {
			prev.AccessKeys = append(prev.AccessKeys, k)
			calls = append(calls, updateKeyCall(cl.IAM, t.name, k, iamtypes.StatusTypeInactive))
		}
		return calls, prev, nil
	case "role":
		doc := denyOlderSessions(now)
		return []plannedCall{{
			Call: Call{API: "iam:PutRolePolicy", Params: map[string]string{"RoleName": t.name, "PolicyName": policy, "PolicyDocument": doc}},
			do: func(ctx context.Context) error {
				_, err := cl.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &t.name, PolicyName: &policy, PolicyDocument: &doc})
				return err
			},
		}}, &PreviousState{RoleName: t.name, PolicyName: policy}, nil
	default: // instance, eni
		in := &ec2.DescribeNetworkInterfacesInput{}
		if t.kind == "eni" {
			in.NetworkInterfaceIds = []string{t.name}
		} else {
			in.Filters = []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{t.name}}}
		}
		prev := &PreviousState{}
		var calls []plannedCall
		var enis []ec2types.NetworkInterface
		for p := ec2.NewDescribeNetworkInterfacesPaginator(cl.EC2, in); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, prev, fmt.Errorf("ec2:DescribeNetworkInterfaces: %w", err)
			}
			enis = append(enis, out.NetworkInterfaces...)
		}
		if len(enis) == 0 {
			return nil, prev, Permanent(fmt.Errorf("ec2:DescribeNetworkInterfaces: no network interface for %s", t.name))
		}
		slices.SortFunc(enis, func(a, b ec2types.NetworkInterface) int {
			return strings.Compare(aws.ToString(a.NetworkInterfaceId), aws.ToString(b.NetworkInterfaceId))
		})
		for _, e := range enis {
			id, vpc := aws.ToString(e.NetworkInterfaceId), aws.ToString(e.VpcId)
			sg, ok := q.cfg.SecurityGroups[vpc]
			if !ok {
				return nil, prev, Permanent(fmt.Errorf("no quarantine security group configured for %s (network interface %s)", vpc, id))
			}
			var groups []string
			for _, g := range e.Groups {
				groups = append(groups, aws.ToString(g.GroupId))
			}
			if len(groups) == 1 && groups[0] == sg {
				continue // already isolated
			}
			prev.NetworkInterfaces = append(prev.NetworkInterfaces, ENIState{ID: id, VPC: vpc, Groups: groups})
			calls = append(calls, modifyGroupsCall(cl.EC2, id, []string{sg}))
		}
		return calls, prev, nil
	}
}

func activeLongTermKeys(ctx context.Context, c iamAPI, user string) ([]string, error) {
	var keys []string
	for p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: &user}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range out.AccessKeyMetadata {
			if id := aws.ToString(k.AccessKeyId); k.Status == iamtypes.StatusTypeActive && strings.HasPrefix(id, "AKIA") {
				keys = append(keys, id)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func updateKeyCall(c iamAPI, user, key string, status iamtypes.StatusType) plannedCall {
	return plannedCall{
		Call: Call{API: "iam:UpdateAccessKey", Params: map[string]string{"UserName": user, "AccessKeyId": key, "Status": string(status)}},
		do: func(ctx context.Context) error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: &user, AccessKeyId: &key, Status: status})
			return err
		},
	}
}

func modifyGroupsCall(c ec2API, eni string, groups []string) plannedCall {
	return plannedCall{
		Call: Call{API: "ec2:ModifyNetworkInterfaceAttribute", Params: map[string]string{"NetworkInterfaceId": eni, "Groups": strings.Join(groups, ",")}},
		do: func(ctx context.Context) error {
			_, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: &eni, Groups: groups})
			return err
		},
	}
}
