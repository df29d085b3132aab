package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Sentinel errors.
var (
	// ErrInvalidSecurity is wrapped by every Security.Validate error; the
	// message names the setting by its YAML key under kafka.
	ErrInvalidSecurity = errors.New("invalid kafka security settings")
	// ErrNoBrokers is returned when a consumer, producer or range read is
	// built without broker addresses.
	ErrNoBrokers = errors.New("kafka: no brokers")
)

// SASL mechanisms.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// TLS configures transport encryption. With Enabled and nothing else the
// system roots verify the broker.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`   // PEM bundle replacing the system roots
	CertFile           string `yaml:"cert_file"` // client certificate (mutual TLS), with KeyFile
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`          // overrides the name checked in the broker's certificate
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // for tests only; logged as a warning
}

// SASL configures authentication. The password is never written in the
// config file: it is read from the environment variable PasswordEnv
// (default TRAILWATCH_KAFKA_SASL_PASSWORD) when the dialer is built.
type SASL struct {
	Mechanism   string `yaml:"mechanism"` // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
}

// DefaultPasswordEnv is where the SASL password is read from by default.
const DefaultPasswordEnv = "TRAILWATCH_KAFKA_SASL_PASSWORD"

// Security is the TLS and SASL settings shared by every connection.
type Security struct {
	TLS  TLS  `yaml:"tls"`
	SASL SASL `yaml:"sasl"`
}

// Validate checks the settings without reading files or the environment.
func (s *Security) Validate() error {
	t := s.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		return fmt.Errorf("%w: kafka.tls: settings given but kafka.tls.enabled is false", ErrInvalidSecurity)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("%w: kafka.tls.cert_file and kafka.tls.key_file must be given together", ErrInvalidSecurity)
	}
	switch s.SASL.Mechanism {
	case "":
		if s.SASL.Username != "" || s.SASL.PasswordEnv != "" {
			return fmt.Errorf("%w: kafka.sasl: username or password_env given without kafka.sasl.mechanism", ErrInvalidSecurity)
		}
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if s.SASL.Username == "" {
			return fmt.Errorf("%w: kafka.sasl.username is required with mechanism %s", ErrInvalidSecurity, s.SASL.Mechanism)
		}
	default:
		return fmt.Errorf("%w: kafka.sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", ErrInvalidSecurity, s.SASL.Mechanism)
	}
	return nil
}

// Mechanism builds the SASL mechanism, reading the password from the
// environment (lookup, normally os.LookupEnv). It returns nil without SASL.
func (s *Security) Mechanism(lookup func(string) (string, bool)) (sasl.Mechanism, error) {
	if s.SASL.Mechanism == "" {
		return nil, nil
	}
	env := s.SASL.PasswordEnv
	if env == "" {
		env = DefaultPasswordEnv
	}
	pass, ok := lookup(env)
	if !ok || pass == "" {
		return nil, fmt.Errorf("%w: kafka.sasl: the password must be in the environment variable %s, which is not set", ErrInvalidSecurity, env)
	}
	switch s.SASL.Mechanism {
	case MechanismPlain:
		return plain.Mechanism{Username: s.SASL.Username, Password: pass}, nil
	case MechanismSCRAMSHA256:
		return scram.Mechanism(scram.SHA256, s.SASL.Username, pass)
	case MechanismSCRAMSHA512:
		return scram.Mechanism(scram.SHA512, s.SASL.Username, pass)
	}
	return nil, fmt.Errorf("%w: kafka.sasl.mechanism %q", ErrInvalidSecurity, s.SASL.Mechanism)
}

// TLSConfig builds the TLS configuration, reading the files; nil without TLS.
func (s *Security) TLSConfig() (*tls.Config, error) {
	t := s.TLS
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: kafka.tls.ca_file %s holds no PEM certificate", ErrInvalidSecurity, t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Conn is what every connection of the service is built from.
type Conn struct {
	Dialer    *kafka.Dialer    // for Readers
	Transport *kafka.Transport // for Writers and the admin Client
}

// NewConn validates sec and builds the dialer and transport. lookup reads
// the environment (nil means os.LookupEnv).
func NewConn(sec Security, lookup func(string) (string, bool)) (*Conn, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := sec.Validate(); err != nil {
		return nil, err
	}
	tc, err := sec.TLSConfig()
	if err != nil {
		return nil, err
	}
	mech, err := sec.Mechanism(lookup)
	if err != nil {
		return nil, err
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tc, SASLMechanism: mech}
	tr := &kafka.Transport{DialTimeout: 10 * time.Second, TLS: tc, SASL: mech, MetadataTTL: 30 * time.Second}
	return &Conn{Dialer: d, Transport: tr}, nil
}
