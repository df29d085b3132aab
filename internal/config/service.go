package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/ingest/kafka"
)

// Kafka configures the service's consumer, producer and connections.
type Kafka struct {
	// Brokers are host:port bootstrap addresses. Empty: `serve` starts an
	// in-process development broker on DevBroker and uses it.
	Brokers []string `yaml:"brokers"`
	// DevBroker is where the development broker listens when Brokers is empty.
	DevBroker string `yaml:"dev_broker"`
	// GroupID is the consumer group; instances with the same id share the
	// input partitions.
	GroupID string `yaml:"group_id"`
	// Inputs are the topics carrying CloudTrail and flow-log messages, in any
	// shape the decoders accept.
	Inputs []string `yaml:"inputs"`
	// AlertsTopic receives every alert as JSON, keyed by principal.
	AlertsTopic string `yaml:"alerts_topic"`
	// DeadLetterTopic receives every message (or record) that could not be
	// used, with the original bytes and the reason in headers.
	DeadLetterTopic string `yaml:"deadletter_topic"`
	// StartOffset is where a new group starts: earliest or latest.
	StartOffset string `yaml:"start_offset"`
	// CommitInterval is how often the service checkpoints: waits until the
	// alerts of everything processed are acknowledged, snapshots the state
	// and commits the offsets.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// FetchMaxBytes and FetchMaxWait bound one fetch.
	FetchMaxBytes int           `yaml:"fetch_max_bytes"`
	FetchMaxWait  time.Duration `yaml:"fetch_max_wait"`
	// Consumer-group timing.
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	RebalanceTimeout  time.Duration `yaml:"rebalance_timeout"`
	// ShutdownTimeout bounds the graceful shutdown (drain, acks, commit, snapshot).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TLS and SASL; the SASL password comes from the environment.
	TLS  kafka.TLS  `yaml:"tls"`
	SASL kafka.SASL `yaml:"sasl"`
}

// HTTP configures the operations endpoint (/metrics, /healthz, /readyz).
type HTTP struct {
	Addr string `yaml:"addr"` // host:port; empty disables the endpoint
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal, else JSON), json or console
}

// State configures the baseline snapshot.
type State struct {
	// Path is the snapshot file, restored at start and written at every
	// checkpoint and at shutdown. Empty: state lives only in memory.
	Path string `yaml:"path"`
}

// Service defaults.
const (
	DefaultGroupID         = "trailwatch"
	DefaultAlertsTopic     = "trailwatch.alerts"
	DefaultDeadLetterTopic = "trailwatch.deadletter"
	DefaultHTTPAddr        = "127.0.0.1:9464"
)

// DefaultInputs are the input topics when none are configured.
var DefaultInputs = []string{"trailwatch.cloudtrail", "trailwatch.flowlogs"}

func defaultKafka() Kafka {
	return Kafka{
		DevBroker:         "127.0.0.1:9092",
		GroupID:           DefaultGroupID,
		Inputs:            append([]string(nil), DefaultInputs...),
		AlertsTopic:       DefaultAlertsTopic,
		DeadLetterTopic:   DefaultDeadLetterTopic,
		StartOffset:       "earliest",
		CommitInterval:    5 * time.Second,
		FetchMaxBytes:     1_000_000,
		FetchMaxWait:      time.Second,
		SessionTimeout:    30 * time.Second,
		HeartbeatInterval: 3 * time.Second,
		RebalanceTimeout:  30 * time.Second,
		ShutdownTimeout:   30 * time.Second,
	}
}

// Security returns the TLS and SASL settings.
func (k *Kafka) Security() kafka.Security { return kafka.Security{TLS: k.TLS, SASL: k.SASL} }

func (c *Config) validateService() error {
	k := &c.Kafka
	for i, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("%w: kafka.brokers[%d]: want host:port, got %q", ErrInvalid, i, b)
		}
	}
	if len(k.Brokers) == 0 {
		if _, _, err := net.SplitHostPort(k.DevBroker); err != nil {
			return fmt.Errorf("%w: kafka.dev_broker: want host:port, got %q", ErrInvalid, k.DevBroker)
		}
	}
	if k.GroupID == "" {
		return fmt.Errorf("%w: kafka.group_id must not be empty", ErrInvalid)
	}
	if len(k.Inputs) == 0 {
		return fmt.Errorf("%w: kafka.inputs must name at least one topic", ErrInvalid)
	}
	seen := map[string]string{}
	check := func(key, t string) error {
		if err := validTopic(t); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
		}
		if prev, dup := seen[t]; dup {
			return fmt.Errorf("%w: %s: topic %q is already %s", ErrInvalid, key, t, prev)
		}
		seen[t] = key
		return nil
	}
	for i, t := range k.Inputs {
		if err := check(fmt.Sprintf("kafka.inputs[%d]", i), t); err != nil {
			return err
		}
	}
	if err := check("kafka.alerts_topic", k.AlertsTopic); err != nil {
		return err
	}
	if err := check("kafka.deadletter_topic", k.DeadLetterTopic); err != nil {
		return err
	}
	if err := c.validateScale(check); err != nil {
		return err
	}
	if k.StartOffset != "earliest" && k.StartOffset != "latest" {
		return fmt.Errorf("%w: kafka.start_offset: want earliest or latest, got %q", ErrInvalid, k.StartOffset)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"kafka.commit_interval", k.CommitInterval}, {"kafka.fetch_max_wait", k.FetchMaxWait},
		{"kafka.session_timeout", k.SessionTimeout}, {"kafka.heartbeat_interval", k.HeartbeatInterval},
		{"kafka.rebalance_timeout", k.RebalanceTimeout}, {"kafka.shutdown_timeout", k.ShutdownTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%w: %s must be positive, got %s", ErrInvalid, d.key, d.v)
		}
	}
	if k.HeartbeatInterval >= k.SessionTimeout {
		return fmt.Errorf("%w: kafka.heartbeat_interval (%s) must be less than kafka.session_timeout (%s)", ErrInvalid, k.HeartbeatInterval, k.SessionTimeout)
	}
	if k.FetchMaxBytes < 1024 {
		return fmt.Errorf("%w: kafka.fetch_max_bytes must be at least 1024, got %d", ErrInvalid, k.FetchMaxBytes)
	}
	sec := k.Security()
	if err := sec.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), kafka.ErrInvalidSecurity.Error()+": ")
		return fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	if c.HTTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
			return fmt.Errorf("%w: http.addr: want host:port, got %q", ErrInvalid, c.HTTP.Addr)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: log.level: want debug, info, warn or error, got %q", ErrInvalid, c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("%w: log.format: want auto, json or console, got %q", ErrInvalid, c.Log.Format)
	}
	return nil
}

// validTopic applies Kafka's rule: 1 to 249 characters of [a-zA-Z0-9._-],
// not "." or "..".
func validTopic(t string) error {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("invalid topic name %q", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("invalid topic name %q: only letters, digits, '.', '_' and '-'", t)
		}
	}
	return nil
}
