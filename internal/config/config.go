// Package config loads trailwatch's YAML configuration strictly: unknown keys
// are errors, every setting is validated once, and each error names the
// setting it is about, so a typo never silently becomes a default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest/cloudtrail"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/vpcflow"
	"github.com/trailwatch/trailwatch/respond"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid config")

// Config is the whole configuration file.
type Config struct {
	Ingest   Ingest        `yaml:"ingest"`
	Baseline Baseline      `yaml:"baseline"`
	Detect   detect.Config `yaml:"detect"`
	Kafka    Kafka         `yaml:"kafka"`
	HTTP     HTTP          `yaml:"http"`
	Log      Log           `yaml:"log"`
	State    State         `yaml:"state"`
	// Scale configures the scale-out topology of serve; see docs/scaling.md.
	Scale Scale `yaml:"scale"`
	// Respond configures alert delivery (SNS, webhooks, Slack, PagerDuty)
	// and quarantine; see docs/respond.md. Empty: no responder runs.
	Respond respond.Config `yaml:"respond"`
}

// Ingest configures decoding.
type Ingest struct {
	// Format forces a decoder: auto (default), cloudtrail or vpcflow.
	Format     string     `yaml:"format"`
	CloudTrail CloudTrail `yaml:"cloudtrail"`
	VPCFlow    VPCFlow    `yaml:"vpcflow"`
}

// CloudTrail configures the CloudTrail decoder.
type CloudTrail struct {
	// AssumeUTC reads an eventTime without a zone (as some SIEM exports write
	// it) as UTC instead of rejecting the record. Off by default: a time that
	// cannot be placed is never guessed.
	AssumeUTC bool `yaml:"assume_utc"`
	// MaxRecordBytes rejects single records above this size; default 4 MiB.
	MaxRecordBytes int `yaml:"max_record_bytes"`
}

// VPCFlow configures the flow-log decoder.
type VPCFlow struct {
	// Format is the field list of flow lines that arrive without a header
	// (CloudWatch Logs, Kafka); default the v2 default format.
	Format string `yaml:"format"`
	// InternalCIDRs is the address space whose traffic to elsewhere is egress;
	// default RFC 1918, 100.64.0.0/10 and fc00::/7.
	InternalCIDRs []string `yaml:"internal_cidrs"`
	// ExcludeServices lists pkt-dst-aws-service values that are never egress.
	ExcludeServices []string `yaml:"exclude_services"`
}

// Baseline configures per-principal state.
type Baseline struct {
	HalfLife      time.Duration `yaml:"half_life"`      // default 168h (7 days)
	MaxPrincipals int           `yaml:"max_principals"` // default 1,000,000
	IdleTTL       time.Duration `yaml:"idle_ttl"`       // default 720h (30 days)
	Shards        int           `yaml:"shards"`         // logical shards, power of two; default 256
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Ingest:  Ingest{Format: string(decode.FormatAuto)},
		Detect:  detect.Defaults(),
		Kafka:   defaultKafka(),
		Scale:   defaultScale(),
		HTTP:    HTTP{Addr: DefaultHTTPAddr},
		Log:     Log{Level: "info", Format: "auto"},
		Respond: respond.Defaults(),
	}
}

// Load reads and validates a config file.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// LoadEnv reads path (empty: the defaults) and applies the environment
// overrides found by lookup (nil: os.LookupEnv); see EnvPrefix.
func LoadEnv(path string, lookup func(string) (string, bool)) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c := Default()
	if path != "" {
		var err error
		if c, err = Load(path); err != nil {
			return c, err
		}
	}
	if err := c.ApplyEnv(lookup); err != nil {
		return c, fmt.Errorf("config environment: %w", err)
	}
	return c, nil
}

// Parse reads YAML over the defaults, rejecting unknown keys, and validates.
func Parse(r io.Reader) (Config, error) {
	c := Default()
	b, err := io.ReadAll(r)
	if err != nil {
		return c, err
	}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return c, c.Validate()
}

// Validate checks every setting once; the error names the first bad one.
func (c *Config) Validate() error {
	if _, err := decode.ParseFormat(c.Ingest.Format); err != nil {
		return fmt.Errorf("%w: ingest.format: %v", ErrInvalid, err)
	}
	if _, err := c.DecodeOptions(); err != nil {
		return err
	}
	b := c.Baseline
	if b.HalfLife < 0 {
		return fmt.Errorf("%w: baseline.half_life must not be negative", ErrInvalid)
	}
	if b.MaxPrincipals < 0 {
		return fmt.Errorf("%w: baseline.max_principals must not be negative", ErrInvalid)
	}
	if b.IdleTTL < 0 {
		return fmt.Errorf("%w: baseline.idle_ttl must not be negative", ErrInvalid)
	}
	if b.Shards < 0 || b.Shards&(b.Shards-1) != 0 {
		return fmt.Errorf("%w: baseline.shards must be a power of two, got %d", ErrInvalid, b.Shards)
	}
	if err := c.Detect.Validate(); err != nil {
		// Name the setting by its full path in this file.
		msg := strings.TrimPrefix(err.Error(), detect.ErrInvalidConfig.Error()+": ")
		return fmt.Errorf("%w: detect.%s", ErrInvalid, msg)
	}
	if err := c.Respond.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), respond.ErrInvalidConfig.Error()+": ")
		return fmt.Errorf("%w: %s", ErrInvalid, msg) // respond's messages name respond.KEY already
	}
	return c.validateService()
}

// DecodeOptions turns the ingest section into decoder options.
func (c *Config) DecodeOptions() (decode.Options, error) {
	f, _ := decode.ParseFormat(c.Ingest.Format)
	vo := vpcflow.Options{Format: c.Ingest.VPCFlow.Format, ExcludeServices: c.Ingest.VPCFlow.ExcludeServices}
	for i, s := range c.Ingest.VPCFlow.InternalCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return decode.Options{}, fmt.Errorf("%w: ingest.vpcflow.internal_cidrs[%d]: %v", ErrInvalid, i, err)
		}
		vo.Internal = append(vo.Internal, p.Masked())
	}
	if _, err := vpcflow.NewDecoder(vo); err != nil {
		return decode.Options{}, fmt.Errorf("%w: ingest.vpcflow.format: %v", ErrInvalid, err)
	}
	if c.Ingest.CloudTrail.MaxRecordBytes < 0 {
		return decode.Options{}, fmt.Errorf("%w: ingest.cloudtrail.max_record_bytes must not be negative", ErrInvalid)
	}
	ct := cloudtrail.Options{AssumeUTC: c.Ingest.CloudTrail.AssumeUTC, MaxRecordBytes: c.Ingest.CloudTrail.MaxRecordBytes}
	return decode.Options{Format: f, CloudTrail: ct, VPCFlow: vo}, nil
}

// BaselineOptions turns the baseline section into store options.
func (c *Config) BaselineOptions() baseline.Options {
	return baseline.Options{
		Shards: c.Baseline.Shards, Window: c.Detect.Window, HalfLife: c.Baseline.HalfLife,
		MaxPrincipals: c.Baseline.MaxPrincipals, IdleTTL: c.Baseline.IdleTTL,
	}
}
