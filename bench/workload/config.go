package workload

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by Config.Validate (and so by the file writers' callers).
var (
	// ErrBadConfig says a Config value is out of range.
	ErrBadConfig = errors.New("invalid workload config")
)

// FlowFormat is the column layout of generated VPC flow log lines.
type FlowFormat uint8

const (
	// FlowMixed gives each flow log (one per account and region) the v2 or
	// the v5 format alternately, so that both shapes appear in one run.
	FlowMixed FlowFormat = iota
	// FlowV2 is the default AWS format (14 fields, no instance-id).
	FlowV2
	// FlowV5 is the 29-field custom format of HeaderV5.
	FlowV5
)

// Header lines of the two flow formats, as the first line of a flow log file.
const (
	HeaderV2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	HeaderV5 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action " +
		"log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id " +
		"sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
)

// Header returns the header line of the format (FlowMixed has none).
func (f FlowFormat) Header() string {
	switch f {
	case FlowV2:
		return HeaderV2
	case FlowV5:
		return HeaderV5
	}
	return ""
}

// Fields returns the number of fields of a line in the format.
func (f FlowFormat) Fields() int {
	switch f {
	case FlowV2:
		return 14
	case FlowV5:
		return 29
	}
	return 0
}

func (f FlowFormat) String() string {
	switch f {
	case FlowV2:
		return "v2"
	case FlowV5:
		return "v5"
	}
	return "mixed"
}

// Config describes the organisation and the stretch of time to generate.
// Zero values take the defaults of DefaultConfig, except Seed (0 is a seed
// like any other) and Incidents (false means none).
type Config struct {
	Seed int64

	Principals int // CloudTrail principals (distinct canonical keys); default 300
	Accounts   int // AWS accounts; default 3
	Instances  int // EC2 instances with flow logs; a quarter as many instance-less ENIs are added; default 40
	// Regions the organisation works in; default us-east-1 and eu-west-1.
	// Global services (IAM) always record us-east-1.
	Regions []string

	Start    time.Time     // first event time; truncated to the minute, UTC; default Monday 2025-03-03 00:00Z
	Duration time.Duration // default 24h

	// RatePerMinute is the mean number of API calls per principal-minute at
	// the daily peak; individual principals spread around it Zipf-like.
	// People follow UTC office hours (about 3% of peak at night, a tenth on
	// weekends); workloads and services run flat around the clock. The
	// number of records held in memory is one minute's worth.
	RatePerMinute float64 // default 0.5
	// FlowsPerMinute is the mean number of flow records per ENI-minute.
	FlowsPerMinute float64 // default 2
	// ErrorRate is the fraction of ordinary calls that fail.
	ErrorRate float64 // default 0.03
	// ZipfS is the Zipf exponent of activity across principals and ENIs.
	ZipfS float64 // default 1.1
	// FlowFormat picks the flow line layout; default FlowMixed.
	FlowFormat FlowFormat
	// NoFlows generates CloudTrail only (the egress-spike incident is then
	// left out).
	NoFlows bool

	// Incidents turns on injected incidents. They are scheduled after WarmUp
	// (so that the victims have a baseline), spread evenly over the rest of
	// Duration, never overlapping; those that do not fit are left out.
	Incidents        bool
	WarmUp           time.Duration // default 6h
	IncidentsPerKind int           // default 1
}

// DefaultConfig returns a small organisation for a day: 300 principals in
// three accounts, 40 instances, incidents on after a 6h warm-up.
func DefaultConfig() Config {
	return Config{
		Seed:             1,
		Principals:       300,
		Accounts:         3,
		Instances:        40,
		Regions:          []string{"us-east-1", "eu-west-1"},
		Start:            time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC),
		Duration:         24 * time.Hour,
		RatePerMinute:    0.5,
		FlowsPerMinute:   2,
		ErrorRate:        0.03,
		ZipfS:            1.1,
		Incidents:        true,
		WarmUp:           6 * time.Hour,
		IncidentsPerKind: 1,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Principals == 0 {
		c.Principals = d.Principals
	}
	if c.Accounts == 0 {
		c.Accounts = d.Accounts
	}
	if c.Instances == 0 {
		c.Instances = d.Instances
	}
	if len(c.Regions) == 0 {
		c.Regions = d.Regions
	}
	if c.Start.IsZero() {
		c.Start = d.Start
	}
	c.Start = c.Start.UTC().Truncate(time.Minute)
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	if c.RatePerMinute == 0 {
		c.RatePerMinute = d.RatePerMinute
	}
	if c.FlowsPerMinute == 0 {
		c.FlowsPerMinute = d.FlowsPerMinute
	}
	if c.ErrorRate == 0 {
		c.ErrorRate = d.ErrorRate
	}
	if c.ZipfS == 0 {
		c.ZipfS = d.ZipfS
	}
	if c.WarmUp == 0 {
		c.WarmUp = d.WarmUp
	}
	if c.IncidentsPerKind == 0 {
		c.IncidentsPerKind = d.IncidentsPerKind
	}
	return c
}

// Validate reports the first out-of-range value (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Principals < 0 || c.Principals > 1<<24:
		return fmt.Errorf("%w: principals %d not in [1, %d]", ErrBadConfig, c.Principals, 1<<24)
	case c.Accounts < 0 || c.Accounts > 1000:
		return fmt.Errorf("%w: accounts %d not in [1, 1000]", ErrBadConfig, c.Accounts)
	case c.Instances < 0 || c.Instances > 1<<22:
		return fmt.Errorf("%w: instances %d not in [1, %d]", ErrBadConfig, c.Instances, 1<<22)
	case len(c.Regions) > 32:
		return fmt.Errorf("%w: %d regions, at most 32", ErrBadConfig, len(c.Regions))
	case c.Duration < 0:
		return fmt.Errorf("%w: negative duration %s", ErrBadConfig, c.Duration)
	case !(c.RatePerMinute >= 0 && c.RatePerMinute <= 1e4) || !(c.FlowsPerMinute >= 0 && c.FlowsPerMinute <= 1e4):
		return fmt.Errorf("%w: rates %g, %g not in [0, 10000] per minute", ErrBadConfig, c.RatePerMinute, c.FlowsPerMinute)
	case !(c.ErrorRate >= 0 && c.ErrorRate <= 0.5):
		return fmt.Errorf("%w: error rate %g not in [0, 0.5]", ErrBadConfig, c.ErrorRate)
	case !(c.ZipfS >= 0 && c.ZipfS <= 4):
		return fmt.Errorf("%w: zipf exponent %g not in [0, 4]", ErrBadConfig, c.ZipfS)
	case c.FlowFormat > FlowV5:
		return fmt.Errorf("%w: flow format %d", ErrBadConfig, c.FlowFormat)
	case c.WarmUp < 0 || c.IncidentsPerKind < 0 || c.IncidentsPerKind > 1000:
		return fmt.Errorf("%w: warm-up %s, incidents per kind %d", ErrBadConfig, c.WarmUp, c.IncidentsPerKind)
	}
	for _, r := range c.Regions {
		if !validRegion(r) {
			return fmt.Errorf("%w: region %q", ErrBadConfig, r)
		}
	}
	return nil
}

// validRegion accepts lower-case letters, digits and dashes, so that a region
// can go into a JSON string and an S3 key unescaped.
func validRegion(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
