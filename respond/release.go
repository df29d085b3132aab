package respond

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"go.uber.org/zap"
)

// ReleaseOptions are the inputs of Release.
type ReleaseOptions struct {
	Audit   *AuditLog
	Clients ClientSource
	DryRun  bool             // audit and return the calls without making them
	Now     func() time.Time // default time.Now
	Logger  *zap.Logger      // default zap.NewNop
}

// Release undoes the quarantine of principal recorded in the audit log:
// it deletes the inline deny policy, reactivates the access keys the
// quarantine deactivated and restores network interfaces' previous
// security groups. A policy that is already gone counts as removed. The
// release is audited (also in dry-run) and the record returned.
func Release(ctx context.Context, principal string, o ReleaseOptions) (*AuditRecord, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	q, err := o.Audit.Active(principal)
	if err != nil {
		return nil, err
	}
	if q == nil {
		return nil, fmt.Errorf("release %s: %w", principal, ErrNoAuditRecord)
	}
	rec := &AuditRecord{Time: o.Now().UTC().Format(time.RFC3339Nano), Action: ActionRelease, AlertID: "",
		Principal: q.Principal, PrincipalType: q.PrincipalType, Account: q.Account, DryRun: o.DryRun,
		Calls: []Call{}, Previous: q.Previous, Reason: "undo quarantine by alert " + q.AlertID}
	cl, err := o.Clients.ForAccount(ctx, q.Account)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", principal, err)
	}
	calls := undoCalls(cl, q)
	for _, c := range calls {
		rec.Calls = append(rec.Calls, c.Call)
	}
	if o.DryRun {
		rec.Result = ResultDryRun
	} else {
		rec.Result = ResultReleased
		for i, c := range calls {
			err := c.do(ctx)
			if err != nil && isAWSCode(err, "NoSuchEntity") && c.API != "iam:UpdateAccessKey" {
				err = nil // the policy is gone already: the goal is reached
				rec.Calls[i].Error = "NoSuchEntity (already removed)"
			} else if err != nil {
				rec.Calls[i].Error = err.Error()
				rec.Result, rec.Error = ResultFailed, fmt.Sprintf("%s: %v", c.API, err)
				break
			}
			rec.Calls[i].Made = true
		}
	}
	o.Logger.Info("release audit", zap.String("principal", principal), zap.String("result", rec.Result), zap.Any("calls", rec.Calls))
	if err := o.Audit.Append(ctx, rec); err != nil {
		return rec, err
	}
	if rec.Result == ResultFailed {
		return rec, fmt.Errorf("release %s: %s", principal, rec.Error)
	}
	return rec, nil
}

// undoCalls reverses a quarantine. For a partly failed one some of these
// were never made: deleting a missing policy is tolerated and reactivating
// an active key is a no-op.
func undoCalls(cl Clients, q *AuditRecord) []plannedCall {
	p := q.Previous
	if p == nil {
		return nil
	}
	var out []plannedCall
	policy := p.PolicyName
	switch {
	case p.UserName != "":
		user := p.UserName
		out = append(out, plannedCall{
			Call: Call{API: "iam:DeleteUserPolicy", Params: map[string]string{"UserName": user, "PolicyName": policy}},
			do: func(ctx context.Context) error {
				_, err := cl.IAM.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: &user, PolicyName: &policy})
				return err
			},
		})
		for _, k := range p.AccessKeys {
			out = append(out, updateKeyCall(cl.IAM, user, k, iamtypes.StatusTypeActive))
		}
	case p.RoleName != "":
		role := p.RoleName
		out = append(out, plannedCall{
			Call: Call{API: "iam:DeleteRolePolicy", Params: map[string]string{"RoleName": role, "PolicyName": policy}},
			do: func(ctx context.Context) error {
				_, err := cl.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role), PolicyName: &policy})
				return err
			},
		})
	default:
		for _, e := range p.NetworkInterfaces {
			if len(e.Groups) > 0 {
				out = append(out, modifyGroupsCall(cl.EC2, e.ID, e.Groups))
			}
		}
	}
	return out
}
