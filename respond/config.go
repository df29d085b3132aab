package respond

import (
	"bytes"

	"fmt"
	yaml "go.yaml.in/yaml/v3"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Sink types accepted in Config.Sinks[].Type.
const (
	TypeSNS       = "sns"
	TypeWebhook   = "webhook"
	TypeSlack     = "slack"
	TypePagerDuty = "pagerduty"
)

// Config is the respond: section of the config file. The zero value of every
// field takes the default from Defaults; Validate names each bad setting by
// its YAML key below respond.
type Config struct {
	// GroupID is the Kafka consumer group of the responder; default
	// trailwatch-respond.
	GroupID string `yaml:"group_id"`
	// ParkedTopic receives alerts a sink did not accept after the retry
	// budget, with the reason in the headers; default trailwatch.alerts.parked.
	ParkedTopic string      `yaml:"parked_topic"`
	Retry       RetryConfig `yaml:"retry"`
	Breaker     BreakerConf `yaml:"breaker"`
	// Sinks receive alerts, each filtered by its Route.
	Sinks      []SinkConfig     `yaml:"sinks"`
	Quarantine QuarantineConfig `yaml:"quarantine"`
}

// RetryConfig bounds delivery retries.
type RetryConfig struct {
	// MaxAttempts per sink and alert, the first included; default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff before the second attempt; doubled after each failure
	// up to MaxBackoff, with jitter (a uniform draw in [d/2, d]). Defaults
	// 1s and 30s.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// MaxRetryAfter caps a receiver's Retry-After; default 5m.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// BreakerConf configures each sink's circuit breaker: after
// FailureThreshold consecutive failed attempts the sink is not called for
// Cooldown, then one trial attempt decides whether it closes again.
type BreakerConf struct {
	FailureThreshold int           `yaml:"failure_threshold"` // default 5
	Cooldown         time.Duration `yaml:"cooldown"`          // default 30s
}

// Route selects the alerts a sink receives; an empty list matches all.
type Route struct {
	Metrics    []string `yaml:"metrics"`
	Severities []string `yaml:"severities"`
	Accounts   []string `yaml:"accounts"`
}

// SinkConfig configures one sink. Which fields apply depends on Type.
type SinkConfig struct {
	// Name identifies the sink in logs, metrics and parked headers:
	// [a-z0-9_-], unique.
	Name  string `yaml:"name"`
	Type  string `yaml:"type"` // sns, webhook, slack or pagerduty
	Route Route  `yaml:"route"`
	// Timeout of one delivery attempt; default 10s.
	Timeout time.Duration `yaml:"timeout"`

	// sns
	TopicARN string `yaml:"topic_arn"`
	Region   string `yaml:"region"`   // default: from the topic ARN
	Endpoint string `yaml:"endpoint"` // override for tests and VPC endpoints

	// webhook, slack, pagerduty: URL or URLEnv (Slack webhook URLs are
	// secrets: prefer url_env). PagerDuty defaults to the Events API v2.
	URL    string `yaml:"url"`
	URLEnv string `yaml:"url_env"`
	// SecretEnv names the environment variable holding the webhook's HMAC
	// key (required for type webhook).
	SecretEnv string `yaml:"secret_env"`
	// RoutingKeyEnv names the environment variable holding the PagerDuty
	// integration key (required for type pagerduty).
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// Headers are added to every request (webhook only).
	Headers []Header `yaml:"headers"`
	// EvidenceURL turns an evidence id into a link in Slack and PagerDuty
	// messages: "{id}" is replaced by the (query-escaped) evidence id, e.g.
	// https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/{id}
	EvidenceURL string `yaml:"evidence_url"`
}

// Header is one extra request header: a literal Value or the content of the
// environment variable ValueEnv (for tokens; never logged).
type Header struct {
	Name     string `yaml:"name"`
	Value    string `yaml:"value"`
	ValueEnv string `yaml:"value_env"`
}

// QuarantineConfig configures the quarantine action.
type QuarantineConfig struct {
	// Enabled turns quarantine on; off by default.
	Enabled bool `yaml:"enabled"`
	// DryRun logs and audits the exact calls without making them. It
	// defaults to true: it must be set to false explicitly.
	DryRun *bool `yaml:"dry_run"`
	// Route selects the alerts that quarantine; by default only critical.
	Route Route `yaml:"route"`
	// Region of the EC2 calls; IAM is global. Required when enabled.
	Region string `yaml:"region"`
	// Protected principal keys (path.Match globs, as in detect.suppress)
	// are never touched. trailwatch's own identity (SelfARN, else STS
	// GetCallerIdentity) is always protected.
	Protected []string `yaml:"protected"`
	SelfARN   string   `yaml:"self_arn"`
	// MaxActionsPerHour caps quarantines (dry-run ones included, so a dry
	// run shows what live mode would do); beyond it alerts only. Default 3.
	MaxActionsPerHour int `yaml:"max_actions_per_hour"`
	// SecurityGroups maps a VPC id to its quarantine security group.
	SecurityGroups map[string]string `yaml:"security_groups"`
	// PolicyName of the inline deny policy; default TrailwatchQuarantine.
	PolicyName string `yaml:"policy_name"`
	// AssumeRole, if set, is the role assumed in a principal's account when
	// it differs from trailwatch's own: "{account}" is replaced by the
	// account id, e.g. arn:aws:iam::{account}:role/TrailwatchResponder.
	AssumeRole string `yaml:"assume_role"`
	// AuditFile receives one JSON line per action; required when enabled.
	// It is also the record Release and re-delivery checks read.
	AuditFile string `yaml:"audit_file"`
	// AuditTopic, if set, also receives every audit record.
	AuditTopic string `yaml:"audit_topic"`
	// Endpoints override the IAM, EC2 and STS endpoints (tests, VPC endpoints).
	IAMEndpoint string `yaml:"iam_endpoint"`
	EC2Endpoint string `yaml:"ec2_endpoint"`
	STSEndpoint string `yaml:"sts_endpoint"`
}

// IsDryRun reports whether quarantine only logs and audits.
func (q *QuarantineConfig) IsDryRun() bool { return q.DryRun == nil || *q.DryRun }

// Defaults returns the configuration used when the section is absent.
func Defaults() Config {
	return Config{
		GroupID:     "trailwatch-respond",
		ParkedTopic: "trailwatch.alerts.parked",
		Retry: RetryConfig{
			MaxAttempts: 5, InitialBackoff: time.Second, MaxBackoff: 30 * time.Second,
			MaxRetryAfter: 5 * time.Minute,
		},
		Breaker: BreakerConf{FailureThreshold: 5, Cooldown: 30 * time.Second},
		Quarantine: QuarantineConfig{
			MaxActionsPerHour: 3, PolicyName: "TrailwatchQuarantine",
			Route: Route{Severities: []string{"critical"}},
		},
	}
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	arnSNSRE = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	vpcRE    = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	sgRE     = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	accRE    = regexp.MustCompile(`^\d{12}$`)
	policyRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	// reservedHeaders are set by trailwatch and cannot be overridden.
	reservedHeaders = []string{"content-type", "content-length", "host", "user-agent",
		"x-trailwatch-timestamp", "x-trailwatch-signature", "x-trailwatch-alert-id"}
	metrics    = []string{"api_calls", "api_errors", "egress_bytes"}
	severities = []string{"low", "medium", "high", "critical"}
)

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: respond.%s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks every setting; the error names the first bad one by its
// YAML key, e.g. "respond.sinks[0].url: ...". It does not read environment
// variables: that happens when sinks are built.
func (c *Config) Validate() error {
	if c.GroupID == "" {
		return invalid("group_id", "must not be empty")
	}
	if c.ParkedTopic == "" {
		return invalid("parked_topic", "must not be empty")
	}
	r := c.Retry
	switch {
	case r.MaxAttempts < 1 || r.MaxAttempts > 100:
		return invalid("retry.max_attempts", "must be between 1 and 100, got %d", r.MaxAttempts)
	case r.InitialBackoff <= 0:
		return invalid("retry.initial_backoff", "must be positive")
	case r.MaxBackoff < r.InitialBackoff:
		return invalid("retry.max_backoff", "must be at least retry.initial_backoff (%s)", r.InitialBackoff)
	case r.MaxRetryAfter <= 0:
		return invalid("retry.max_retry_after", "must be positive")
	}
	if c.Breaker.FailureThreshold < 1 {
		return invalid("breaker.failure_threshold", "must be at least 1, got %d", c.Breaker.FailureThreshold)
	}
	if c.Breaker.Cooldown <= 0 {
		return invalid("breaker.cooldown", "must be positive")
	}
	seen := map[string]bool{}
	for i := range c.Sinks {
		if err := c.Sinks[i].validate(fmt.Sprintf("sinks[%d]", i)); err != nil {
			return err
		}
		if seen[c.Sinks[i].Name] || c.Sinks[i].Name == QuarantineSinkName {
			return invalid(fmt.Sprintf("sinks[%d].name", i), "%q is used twice (quarantine is reserved)", c.Sinks[i].Name)
		}
		seen[c.Sinks[i].Name] = true
	}
	return c.Quarantine.validate()
}

func (r *Route) validate(key string) error {
	for i, m := range r.Metrics {
		if !slices.Contains(metrics, m) {
			return invalid(fmt.Sprintf("%s.metrics[%d]", key, i), "unknown metric %q (want one of %s)", m, strings.Join(metrics, ", "))
		}
	}
	for i, s := range r.Severities {
		if !slices.Contains(severities, s) {
			return invalid(fmt.Sprintf("%s.severities[%d]", key, i), "unknown severity %q (want one of %s)", s, strings.Join(severities, ", "))
		}
	}
	for i, a := range r.Accounts {
		if !accRE.MatchString(a) {
			return invalid(fmt.Sprintf("%s.accounts[%d]", key, i), "%q is not a 12-digit account id", a)
		}
	}
	return nil
}

func (s *SinkConfig) validate(key string) error {
	if !nameRE.MatchString(s.Name) {
		return invalid(key+".name", "%q must match %s", s.Name, nameRE)
	}
	if err := s.Route.validate(key + ".route"); err != nil {
		return err
	}
	if s.Timeout < 0 {
		return invalid(key+".timeout", "must not be negative")
	}
	switch s.Type {
	case TypeSNS:
		if !arnSNSRE.MatchString(s.TopicARN) {
			return invalid(key+".topic_arn", "%q is not an SNS topic ARN", s.TopicARN)
		}
		if s.Endpoint != "" {
			if err := checkURL(s.Endpoint); err != nil {
				return invalid(key+".endpoint", "%v", err)
			}
		}
		return nil
	case TypeWebhook, TypeSlack, TypePagerDuty:
	case "":
		return invalid(key+".type", "missing (want sns, webhook, slack or pagerduty)")
	default:
		return invalid(key+".type", "unknown sink type %q (want sns, webhook, slack or pagerduty)", s.Type)
	}
	switch {
	case s.URL != "" && s.URLEnv != "":
		return invalid(key+".url", "set url or url_env, not both")
	case s.URL == "" && s.URLEnv == "" && s.Type != TypePagerDuty:
		return invalid(key+".url", "missing (set url or url_env)")
	case s.URL != "":
		if err := checkURL(s.URL); err != nil {
			return invalid(key+".url", "%v", err)
		}
	case !envRE.MatchString(s.URLEnv) && s.URLEnv != "":
		return invalid(key+".url_env", "%q is not an environment variable name", s.URLEnv)
	}
	if s.Type == TypeWebhook {
		if s.SecretEnv == "" {
			return invalid(key+".secret_env", "missing: webhooks are always signed")
		}
		if !envRE.MatchString(s.SecretEnv) {
			return invalid(key+".secret_env", "%q is not an environment variable name", s.SecretEnv)
		}
	}
	if s.Type == TypePagerDuty {
		if s.RoutingKeyEnv == "" || !envRE.MatchString(s.RoutingKeyEnv) {
			return invalid(key+".routing_key_env", "%q is not an environment variable name", s.RoutingKeyEnv)
		}
	}
	if len(s.Headers) > 0 && s.Type != TypeWebhook {
		return invalid(key+".headers", "only webhook sinks take extra headers")
	}
	for i, h := range s.Headers {
		hk := fmt.Sprintf("%s.headers[%d]", key, i)
		if !headerRE.MatchString(h.Name) || slices.Contains(reservedHeaders, strings.ToLower(h.Name)) {
			return invalid(hk+".name", "%q is not a header name trailwatch lets you set", h.Name)
		}
		if (h.Value == "") == (h.ValueEnv == "") {
			return invalid(hk, "set exactly one of value and value_env")
		}
		if h.ValueEnv != "" && !envRE.MatchString(h.ValueEnv) {
			return invalid(hk+".value_env", "%q is not an environment variable name", h.ValueEnv)
		}
		if strings.ContainsAny(h.Value, "\r\n") {
			return invalid(hk+".value", "must not contain line breaks")
		}
	}
	if s.EvidenceURL != "" {
		if !strings.Contains(s.EvidenceURL, "{id}") {
			return invalid(key+".evidence_url", "must contain {id}")
		}
		if err := checkURL(strings.ReplaceAll(s.EvidenceURL, "{id}", "x")); err != nil {
			return invalid(key+".evidence_url", "%v", err)
		}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

func (q *QuarantineConfig) validate() error {
	if err := q.Route.validate("quarantine.route"); err != nil {
		return err
	}
	for i, p := range q.Protected {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return invalid(fmt.Sprintf("quarantine.protected[%d]", i), "%q is not a valid glob", p)
		}
	}
	if q.MaxActionsPerHour < 0 {
		return invalid("quarantine.max_actions_per_hour", "must not be negative")
	}
	if q.PolicyName == "" || !policyRE.MatchString(q.PolicyName) {
		return invalid("quarantine.policy_name", "%q is not an IAM policy name", q.PolicyName)
	}
	vpcs := make([]string, 0, len(q.SecurityGroups))
	for v := range q.SecurityGroups {
		vpcs = append(vpcs, v)
	}
	slices.Sort(vpcs) // the first bad one, deterministically
	for _, v := range vpcs {
		if !vpcRE.MatchString(v) {
			return invalid("quarantine.security_groups", "%q is not a VPC id", v)
		}
		if !sgRE.MatchString(q.SecurityGroups[v]) {
			return invalid("quarantine.security_groups."+v, "%q is not a security group id", q.SecurityGroups[v])
		}
	}
	if q.AssumeRole != "" && !strings.Contains(q.AssumeRole, "{account}") {
		return invalid("quarantine.assume_role", "must contain {account}")
	}
	for _, e := range [...]struct{ key, v string }{
		{"iam_endpoint", q.IAMEndpoint}, {"ec2_endpoint", q.EC2Endpoint}, {"sts_endpoint", q.STSEndpoint},
	} {
		if e.v != "" {
			if err := checkURL(e.v); err != nil {
				return invalid("quarantine."+e.key, "%v", err)
			}
		}
	}
	if !q.Enabled {
		return nil
	}
	if q.Region == "" {
		return invalid("quarantine.region", "missing (required when quarantine is enabled)")
	}
	if q.AuditFile == "" {
		return invalid("quarantine.audit_file", "missing (required when quarantine is enabled: release and re-delivery checks read it)")
	}
	return nil
}

// ParseConfig reads the respond section (as YAML) over Defaults, rejecting
// unknown keys, and validates it. internal/config mounts Config directly;
// this is for tools and tests that read the section alone.
func ParseConfig(b []byte) (Config, error) {
	c := Defaults()
	if len(bytes.TrimSpace(b)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("%w: respond: %v", ErrInvalidConfig, err)
		}
	}
	return c, c.Validate()
}
