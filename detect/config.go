package detect

import (
	"errors"
	"fmt"
	"math"
	"path"
	"runtime"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
)

// Sentinel errors. Every error New or Validate returns wraps one of them.
var (
	// ErrInvalidConfig is wrapped by every Config.Validate error; the message
	// names the offending setting by its YAML key.
	ErrInvalidConfig = errors.New("invalid detect config")
	// ErrNilStore is returned by New without a baseline store.
	ErrNilStore = errors.New("detect: nil baseline store")
	// ErrWindowMismatch is returned by New when the store's window length
	// differs from Config.Window: the store's window indexes would be wrong.
	ErrWindowMismatch = errors.New("detect: store window differs from config window")
)

// MetricValues holds one setting per metric.
type MetricValues struct {
	APICalls    float64 `yaml:"api_calls"`
	APIErrors   float64 `yaml:"api_errors"`
	EgressBytes float64 `yaml:"egress_bytes"`
}

// Get returns the value for metric m.
func (v MetricValues) Get(m baseline.Metric) float64 {
	switch m {
	case baseline.APICalls:
		return v.APICalls
	case baseline.APIErrors:
		return v.APIErrors
	case baseline.EgressBytes:
		return v.EgressBytes
	}
	return 0
}

func (v MetricValues) array() [baseline.NumMetrics]float64 {
	return [baseline.NumMetrics]float64{v.APICalls, v.APIErrors, v.EgressBytes}
}

// SeverityBands are the z-scores at which an alert becomes medium, high and
// critical; below Medium it is low. They must not decrease.
type SeverityBands struct {
	Medium   float64 `yaml:"medium"`
	High     float64 `yaml:"high"`
	Critical float64 `yaml:"critical"`
}

// Severity names, in increasing order.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Of returns the severity of z-score z.
func (b SeverityBands) Of(z float64) string {
	switch {
	case z >= b.Critical:
		return SeverityCritical
	case z >= b.High:
		return SeverityHigh
	case z >= b.Medium:
		return SeverityMedium
	}
	return SeverityLow
}

// SuppressRule silences alerts that match every non-empty field. Principal is
// a path.Match pattern on the canonical principal key: '*' matches any run of
// characters except '/', '?' one such character, [a-z] a class; so
// "arn:aws:iam::*:role/backup-*" matches every account's backup roles without
// a path, and a role with a path needs a pattern per path depth.
type SuppressRule struct {
	Principal string `yaml:"principal"` // glob on the principal key
	Account   string `yaml:"account"`   // exact account id
	Metric    string `yaml:"metric"`    // api_calls, api_errors or egress_bytes
}

func (r *SuppressRule) matches(key, account string, m baseline.Metric) bool {
	if r.Account != "" && r.Account != account {
		return false
	}
	if r.Metric != "" && r.Metric != m.String() {
		return false
	}
	if r.Principal != "" {
		ok, err := path.Match(r.Principal, key)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// Config configures the engine. Start from Defaults(): New fills in only the
// settings whose zero value is invalid (window, sigma, min_sigma, severity,
// peer_*, parallelism, top_k, top_n, evidence, batch_size), because for the
// others zero is a meaningful choice (no lateness, no minimum excess, no
// cooldown, no cold-start period).
type Config struct {
	// Window is the length of the tumbling event-time windows, a whole number
	// of seconds. It must equal the baseline store's window.
	Window time.Duration `yaml:"window"`
	// AllowedLateness is how far behind the newest event time an event may be
	// and still be merged into its window.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// Sigma is the z-score at which a principal is an outlier.
	Sigma float64 `yaml:"sigma"`
	// MinSigma is the smallest standard deviation used per metric, so that a
	// perfectly regular principal does not alert on a one-call wobble.
	MinSigma MetricValues `yaml:"min_sigma"`
	// MinExcess is the smallest observed-minus-mean that may alert, per metric.
	MinExcess MetricValues `yaml:"min_excess"`
	// MinHistory is the number of windows of own history (idle windows
	// included) below which a principal is scored against its peer group.
	MinHistory int `yaml:"min_history"`
	// Cooldown merges a repeat alert for the same principal and metric that is
	// detected within this long (event time) of the first one.
	Cooldown time.Duration `yaml:"cooldown"`
	// PeerHalfLife is the half-life of the peer-group statistics.
	PeerHalfLife time.Duration `yaml:"peer_half_life"`
	// PeerMinWindows and PeerMinSamples say when a peer group is mature
	// enough to score against: windows with any active member, and
	// member-windows in total.
	PeerMinWindows int `yaml:"peer_min_windows"`
	PeerMinSamples int `yaml:"peer_min_samples"`
	// Severity bands on the z-score.
	Severity SeverityBands `yaml:"severity"`
	// Suppress lists rules whose matching alerts are counted, not emitted.
	Suppress []SuppressRule `yaml:"suppress"`
	// Parallelism is the number of workers. It changes throughput, never
	// output. Default GOMAXPROCS.
	Parallelism int `yaml:"parallelism"`
	// TopK is the capacity of the per-window Space-Saving sketch of actions
	// or destinations (8..64); TopN how many of its items an alert reports.
	TopK int `yaml:"top_k"`
	TopN int `yaml:"top_n"`
	// Evidence is how many leading event ids per metric and window an alert
	// carries (the crossing event's id is added to them).
	Evidence int `yaml:"evidence"`
	// BatchSize is the number of events handed to a worker at once.
	BatchSize int `yaml:"batch_size"`
}

// Defaults returns the recommended configuration; docs/alerts.md explains the
// numbers.
func Defaults() Config {
	return Config{
		Window:          time.Minute,
		AllowedLateness: 5 * time.Minute,
		Sigma:           3,
		MinSigma:        MetricValues{APICalls: 1, APIErrors: 1, EgressBytes: 1 << 20},
		MinExcess:       MetricValues{APICalls: 20, APIErrors: 10, EgressBytes: 150 << 20},
		MinHistory:      60,
		Cooldown:        15 * time.Minute,
		PeerHalfLife:    24 * time.Hour,
		PeerMinWindows:  30,
		PeerMinSamples:  100,
		Severity:        SeverityBands{Medium: 4, High: 6, Critical: 10},
		Parallelism:     runtime.GOMAXPROCS(0),
		TopK:            12,
		TopN:            5,
		Evidence:        3,
		BatchSize:       256,
	}
}

// fill sets the settings whose zero value is invalid to their defaults.
func (c *Config) fill() {
	d := Defaults()
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.Sigma == 0 {
		c.Sigma = d.Sigma
	}
	if c.MinSigma.APICalls == 0 {
		c.MinSigma.APICalls = d.MinSigma.APICalls
	}
	if c.MinSigma.APIErrors == 0 {
		c.MinSigma.APIErrors = d.MinSigma.APIErrors
	}
	if c.MinSigma.EgressBytes == 0 {
		c.MinSigma.EgressBytes = d.MinSigma.EgressBytes
	}
	if c.Severity == (SeverityBands{}) {
		c.Severity = d.Severity
	}
	if c.PeerHalfLife == 0 {
		c.PeerHalfLife = d.PeerHalfLife
	}
	if c.PeerMinWindows == 0 {
		c.PeerMinWindows = d.PeerMinWindows
	}
	if c.PeerMinSamples == 0 {
		c.PeerMinSamples = d.PeerMinSamples
	}
	if c.Parallelism == 0 {
		c.Parallelism = d.Parallelism
	}
	if c.TopK == 0 {
		c.TopK = d.TopK
	}
	if c.TopN == 0 {
		c.TopN = d.TopN
	}
	if c.Evidence == 0 {
		c.Evidence = d.Evidence
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
}

func bad(setting, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, setting, fmt.Sprintf(format, args...))
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate reports the first invalid setting, naming it by its YAML key.
func (c *Config) Validate() error {
	switch {
	case c.Window < time.Second || c.Window%time.Second != 0:
		return bad("window", "must be a whole number of seconds >= 1s, got %s", c.Window)
	case c.AllowedLateness < 0:
		return bad("allowed_lateness", "must not be negative, got %s", c.AllowedLateness)
	case !finite(c.Sigma) || c.Sigma <= 0:
		return bad("sigma", "must be > 0, got %g", c.Sigma)
	}
	for m := range baseline.NumMetrics {
		if v := c.MinSigma.Get(m); !finite(v) || v <= 0 {
			return bad("min_sigma."+m.String(), "must be > 0, got %g", v)
		}
		if v := c.MinExcess.Get(m); !finite(v) || v < 0 {
			return bad("min_excess."+m.String(), "must be >= 0, got %g", v)
		}
	}
	switch {
	case c.MinHistory < 0:
		return bad("min_history", "must be >= 0, got %d", c.MinHistory)
	case c.Cooldown < 0:
		return bad("cooldown", "must not be negative, got %s", c.Cooldown)
	case c.PeerHalfLife < 0:
		return bad("peer_half_life", "must not be negative, got %s", c.PeerHalfLife)
	case c.PeerMinWindows < 1:
		return bad("peer_min_windows", "must be >= 1, got %d", c.PeerMinWindows)
	case c.PeerMinSamples < 1:
		return bad("peer_min_samples", "must be >= 1, got %d", c.PeerMinSamples)
	case !finite(c.Severity.Medium) || c.Severity.Medium < c.Sigma:
		return bad("severity.medium", "must be >= sigma (%g), got %g", c.Sigma, c.Severity.Medium)
	case !finite(c.Severity.High) || c.Severity.High < c.Severity.Medium:
		return bad("severity.high", "must be >= severity.medium (%g), got %g", c.Severity.Medium, c.Severity.High)
	case !finite(c.Severity.Critical) || c.Severity.Critical < c.Severity.High:
		return bad("severity.critical", "must be >= severity.high (%g), got %g", c.Severity.High, c.Severity.Critical)
	case c.Parallelism < 1 || c.Parallelism > 1024:
		return bad("parallelism", "must be in 1..1024, got %d", c.Parallelism)
	case c.TopK < 8 || c.TopK > 64:
		return bad("top_k", "must be in 8..64, got %d", c.TopK)
	case c.TopN < 1 || c.TopN > c.TopK:
		return bad("top_n", "must be in 1..top_k (%d), got %d", c.TopK, c.TopN)
	case c.Evidence < 1 || c.Evidence > 32:
		return bad("evidence", "must be in 1..32, got %d", c.Evidence)
	case c.BatchSize < 1 || c.BatchSize > 1<<16:
		return bad("batch_size", "must be in 1..65536, got %d", c.BatchSize)
	}
	for i, r := range c.Suppress {
		name := fmt.Sprintf("suppress[%d]", i)
		if r == (SuppressRule{}) {
			return bad(name, "a rule needs at least one of principal, account, metric")
		}
		if r.Principal != "" {
			if _, err := path.Match(r.Principal, ""); err != nil {
				return bad(name+".principal", "bad pattern %q: %v", r.Principal, err)
			}
		}
		if r.Metric != "" {
			if _, ok := baseline.ParseMetric(r.Metric); !ok {
				return bad(name+".metric", "unknown metric %q (want api_calls, api_errors or egress_bytes)", r.Metric)
			}
		}
	}
	return nil
}
