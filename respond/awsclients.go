package respond

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AccountClients is the production ClientSource: the base credentials for
// trailwatch's own account, and for any other account the role named by
// quarantine.assume_role (or ErrOtherAccount when none is configured).
type AccountClients struct {
	base       aws.Config
	self       string // own account id
	assumeRole string
	iamEP      string
	ec2EP      string
	stsEP      string

	mu    sync.Mutex
	cache map[string]Clients
}

var _ ClientSource = (*AccountClients)(nil)

// NewAccountClients returns the ClientSource for cfg. Call Identify before
// use: it learns which account the base credentials belong to.
func NewAccountClients(base aws.Config, cfg QuarantineConfig) *AccountClients {
	return &AccountClients{base: base, assumeRole: cfg.AssumeRole,
		iamEP: cfg.IAMEndpoint, ec2EP: cfg.EC2Endpoint, stsEP: cfg.STSEndpoint, cache: map[string]Clients{}}
}

// ForAccount implements ClientSource.
func (c *AccountClients) ForAccount(_ context.Context, account string) (Clients, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.cache[account]; ok {
		return cl, nil
	}
	cfg := c.base.Copy()
	if c.self == "" {
		return Clients{}, fmt.Errorf("account %s: own account unknown (Identify not called): %w", account, ErrOtherAccount)
	}
	if account != c.self {
		if c.assumeRole == "" {
			return Clients{}, fmt.Errorf("account %s: %w", account, ErrOtherAccount)
		}
		arn := strings.ReplaceAll(c.assumeRole, "{account}", account)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c.stsClient(c.base), arn,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "trailwatch-quarantine" }))
	}
	cl := Clients{
		IAM: iam.NewFromConfig(cfg, func(o *iam.Options) {
			if c.iamEP != "" {
				o.BaseEndpoint = aws.String(c.iamEP)
			}
		}),
		EC2: ec2.NewFromConfig(cfg, func(o *ec2.Options) {
			if c.ec2EP != "" {
				o.BaseEndpoint = aws.String(c.ec2EP)
			}
		}),
	}
	c.cache[account] = cl
	return cl, nil
}

func (c *AccountClients) stsClient(cfg aws.Config) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if c.stsEP != "" {
			o.BaseEndpoint = aws.String(c.stsEP)
		}
	})
}

// Identify asks STS who the base credentials are, remembers the account as
// trailwatch's own and returns the ARN (to protect it).
func (c *AccountClients) Identify(ctx context.Context) (arn string, err error) {
	out, err := c.stsClient(c.base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts:GetCallerIdentity: %w", err)
	}
	c.mu.Lock()
	c.self = aws.ToString(out.Account)
	c.mu.Unlock()
	return aws.ToString(out.Arn), nil
}
