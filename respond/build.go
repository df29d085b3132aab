package respond

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Deps are what New needs besides the config.
type Deps struct {
	Brokers     []string
	AlertsTopic string        // default trailwatch.alerts
	Dialer      *kafka.Dialer // default kafka.DefaultDialer
	// AWS is the base AWS config; default config.LoadDefaultConfig (the
	// default credential chain). Region is set per sink from the config.
	AWS        *aws.Config
	HTTP       HTTPOptions
	Registerer prometheus.Registerer
	Logger     *zap.Logger
	// Reader adjusts the consumer config (tests shorten group timeouts).
	Reader func(*kafka.ReaderConfig)
	// ResponderOptions adjusts the responder (tests inject the clock).
	Responder func(*ResponderOptions)
}

// Service is a Responder wired to Kafka with its sinks. Run it with Run;
// Close releases the consumer, producer and audit file.
type Service struct {
	*Responder
	reader *kafka.Reader
	writer *kafka.Writer
	audit  *AuditLog
	Sinks  []RoutedSink
}

// New builds the responder service from the config: sinks (secrets read
// from the environment now), quarantine (own identity from STS), a consumer
// of the alerts topic in cfg.GroupID and a producer for the parked topic.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.AlertsTopic == "" {
		d.AlertsTopic = "trailwatch.alerts"
	}
	if len(d.Brokers) == 0 {
		return nil, errors.New("respond: no Kafka brokers")
	}
	m := NewMetrics(d.Registerer)
	s := &Service{}
	s.writer = &kafka.Writer{Addr: kafka.TCP(d.Brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond, Transport: transport(d.Dialer)}
	sinks, audit, err := BuildSinks(ctx, cfg, d, m, s.writer)
	if err != nil {
		s.writer.Close()
		return nil, err
	}
	s.Sinks, s.audit = sinks, audit
	rc := kafka.ReaderConfig{Brokers: d.Brokers, GroupID: cfg.GroupID, Topic: d.AlertsTopic, Dialer: d.Dialer,
		MinBytes: 1, MaxBytes: 10 << 20, CommitInterval: 0, StartOffset: kafka.FirstOffset}
	if d.Reader != nil {
		d.Reader(&rc)
	}
	s.reader = kafka.NewReader(rc)
	o := ResponderOptions{Source: s.reader, Parked: s.writer, ParkedTopic: cfg.ParkedTopic, Sinks: sinks,
		Retry: cfg.Retry, Breaker: cfg.Breaker, Metrics: m, Logger: d.Logger}
	if d.Responder != nil {
		d.Responder(&o)
	}
	if s.Responder, err = NewResponder(o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func transport(d *kafka.Dialer) *kafka.Transport {
	t := &kafka.Transport{}
	if d != nil {
		t.SASL, t.TLS, t.ClientID = d.SASLMechanism, d.TLS, d.ClientID
	}
	return t
}

// Close stops the consumer and producer and closes the audit file. It is
// safe to call more than once.
func (s *Service) Close() error {
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
		s.reader = nil
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
		s.writer = nil
	}
	if s.audit != nil {
		errs = append(errs, s.audit.Close())
		s.audit = nil
	}
	return errors.Join(errs...)
}

// BuildSinks builds the configured sinks and, when enabled, quarantine
// (last, so that people are told before anything is changed). The audit
// log is returned for the caller to close; audit records are mirrored to
// quarantine.audit_topic through w when both are set. Replay uses it with
// a Responder's Dispatch.
func BuildSinks(ctx context.Context, cfg Config, d Deps, m *Metrics, w messageWriter) ([]RoutedSink, *AuditLog, error) {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	base, err := baseAWS(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	var out []RoutedSink
	for i, sc := range cfg.Sinks {
		key := fmt.Sprintf("sinks[%d]", i)
		var s Sink
		switch sc.Type {
		case TypeSNS:
			ac := base.Copy()
			if sc.Region != "" {
				ac.Region = sc.Region
			} else if ac.Region == "" {
				ac.Region = arnRegion(sc.TopicARN)
			}
			ep := sc.Endpoint
			s = NewSNS(sc.Name, sc.TopicARN, sns.NewFromConfig(ac, func(o *sns.Options) {
				if ep != "" {
					o.BaseEndpoint = aws.String(ep)
				}
			}), sc.Timeout)
		case TypeWebhook:
			s, err = NewWebhook(sc, key, d.HTTP)
		case TypeSlack:
			s, err = NewSlack(sc, key, d.HTTP)
		case TypePagerDuty:
			s, err = NewPagerDuty(sc, key, d.HTTP)
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, RoutedSink{Sink: s, Route: sc.Route})
	}
	q := cfg.Quarantine
	if !q.Enabled {
		return out, nil, nil
	}
	ac := base.Copy()
	ac.Region = q.Region
	clients := NewAccountClients(ac, q)
	self, err := clients.Identify(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("quarantine: learn own identity to protect it: %w", err)
	}
	if q.SelfARN != "" {
		self = q.SelfARN
	}
	audit, err := OpenAuditLog(q.AuditFile)
	if err != nil {
		return nil, nil, err
	}
	if q.AuditTopic != "" && w != nil {
		audit.MirrorTo(w, q.AuditTopic)
	}
	qs, err := NewQuarantine(QuarantineOptions{Config: q, Clients: clients, Audit: audit, Self: self, Logger: d.Logger, Metrics: m})
	if err != nil {
		audit.Close()
		return nil, nil, err
	}
	d.Logger.Info("quarantine enabled", zap.Bool("dry_run", q.IsDryRun()), zap.String("self", self),
		zap.Int("max_actions_per_hour", q.MaxActionsPerHour))
	return append(out, RoutedSink{Sink: qs, Route: q.Route}), audit, nil
}

func baseAWS(ctx context.Context, d Deps) (aws.Config, error) {
	if d.AWS != nil {
		return *d.AWS, nil
	}
	c, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("respond: AWS config: %w", err)
	}
	return c, nil
}

func arnRegion(arn string) string {
	var parts [6]string
	n := 0
	start := 0
	for i := 0; i < len(arn) && n < 5; i++ {
		if arn[i] == ':' {
			parts[n] = arn[start:i]
			n++
			start = i + 1
		}
	}
	return parts[3]
}
