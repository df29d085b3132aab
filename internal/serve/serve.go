package serve

import (
	"context"
	"errors"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/trailwatch/trailwatch/respond"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/decode"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/partition"
)

// ErrNoBrokers is returned by New without broker addresses: the command
// starts the development broker and passes its address when none are
// configured.
var ErrNoBrokers = errors.New("serve: no kafka brokers")

// Options configure a Service.
type Options struct {
	Config   config.Config
	Logger   *zap.Logger
	Registry *prometheus.Registry // nil: a new one
	// Lookup reads the environment for secrets (nil: os.LookupEnv).
	Lookup func(string) (string, bool)
	// OnAlert, if set, sees every alert as it is enqueued (the demo prints
	// them). It runs on an engine's emitting goroutine and must be quick;
	// with the scale-out topology every owned partition has an engine, so
	// it may be called concurrently.
	OnAlert func(*detect.Alert)
	// ProbeInterval is how often broker reachability is checked for /readyz;
	// default 2s.
	ProbeInterval time.Duration
	// JoinGroupBackoff is the wait between attempts to join the group;
	// default kafka-go's (5s). Tests lower it.
	JoinGroupBackoff time.Duration
	// AWS, RespondReader and Responder adjust the response stage (tests
	// point it at fake AWS endpoints and shorten group timeouts).
	AWS           *aws.Config
	RespondReader func(*kafkago.ReaderConfig)
	Responder     func(*respond.ResponderOptions)
}

// respondConfigured reports whether any sink or quarantine is configured.
func (s *Service) respondConfigured() bool {
	return len(s.cfg.Respond.Sinks) > 0 || s.cfg.Respond.Quarantine.Enabled
}

// Service is one running `trailwatch serve`.
type Service struct {
	o       Options
	cfg     config.Config
	log     *zap.Logger
	reg     *prometheus.Registry
	m       *metrics
	km      *kafka.Metrics
	conn    *kafka.Conn
	dec     *decode.Decoder
	store   *baseline.Store
	eng     *detect.Engine
	cons    *kafka.Consumer
	writer  *kafkago.Writer
	prod    *kafka.Producer
	offsets *kafka.Offsets

	// Scale-out topology (scale.role other than single).
	sm          *scaleMetrics
	det         *detectStage // stage 2, nil in role ingest
	eventsTopic string       // stage 1 produces events here; empty when the pipeline runs detection itself

	brokerUp  atomic.Bool
	running   atomic.Bool
	stopping  atomic.Bool
	poisoned  atomic.Bool  // an alert or dead letter could not be enqueued: never commit again
	curFetch  atomic.Int64 // unix nanos of the fetch of the message being processed
	abort     atomic.Bool  // tests: stop like a crash, no final checkpoint
	processed atomic.Int64 // messages processed
	eventsOut atomic.Int64 // stage 1: events enqueued to the events topic
	dirty     bool         // events processed since the last Sync
	emitCtx   context.Context
	lastErr   error
	closeOnce sync.Once
}

// New builds the service: restores the snapshot (a missing file is a first
// run; any other problem is an error), and prepares the consumer, producer
// and engine without connecting.
func New(o Options) (*Service, error) {
	cfg := o.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return nil, ErrNoBrokers
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 2 * time.Second
	}
	s := &Service{o: o, cfg: cfg, log: o.Logger, reg: o.Registry, offsets: kafka.NewOffsets()}
	var err error
	if s.conn, err = kafka.NewConn(cfg.Kafka.Security(), o.Lookup); err != nil {
		return nil, err
	}
	if cfg.Kafka.TLS.InsecureSkipVerify {
		s.log.Warn("kafka.tls.insecure_skip_verify is set: the broker's certificate is not verified")
	}
	decOpts, err := cfg.DecodeOptions()
	if err != nil {
		return nil, err
	}
	if s.dec, err = decode.New(decOpts); err != nil {
		return nil, err
	}
	s.m = newMetrics(s.reg, cfg.Kafka.Inputs)
	s.km = kafka.NewMetrics(s.reg)
	role := cfg.Scale.Role
	if role == config.RoleSingle {
		if s.store, err = openStore(cfg.State.Path, cfg.BaselineOptions()); err != nil {
			return nil, err
		}
		s.eng, err = detect.New(cfg.Detect, s.store, s.emit, detect.WithLogger(s.log), detect.WithImmediateEmit())
		if err != nil {
			return nil, err
		}
		registerEngine(s.reg, func() (detect.EngineStats, baseline.StoreStats) { return s.eng.Stats(), s.store.Stats() })
	} else {
		s.sm = newScaleMetrics(s.reg)
		if role != config.RoleIngest {
			s.det = newDetectStage(s, s.sm)
			registerEngine(s.reg, s.det.stats)
		}
		if role != config.RoleDetect && !cfg.Scale.Prekeyed {
			s.eventsTopic = cfg.Scale.EventsTopic
		}
	}
	if s.runsPipeline() {
		start := kafkago.FirstOffset
		if cfg.Kafka.StartOffset == "latest" {
			start = kafkago.LastOffset
		}
		s.cons, err = kafka.NewConsumer(kafka.ConsumerOptions{
			Brokers: cfg.Kafka.Brokers, GroupID: cfg.Kafka.GroupID, Topics: cfg.Kafka.Inputs, Conn: s.conn,
			MaxBytes: cfg.Kafka.FetchMaxBytes, MaxWait: cfg.Kafka.FetchMaxWait, StartOffset: start,
			HeartbeatInterval: cfg.Kafka.HeartbeatInterval, SessionTimeout: cfg.Kafka.SessionTimeout,
			RebalanceTimeout: cfg.Kafka.RebalanceTimeout, JoinGroupBackoff: o.JoinGroupBackoff,
			Logger: s.log, Metrics: s.km,
		})
		if err != nil {
			if s.eng != nil {
				s.eng.Close()
			}
			return nil, err
		}
		s.writer = s.newWriter()
		s.prod = kafka.NewProducer(kafka.ProducerOptions{Writer: s.writer, Logger: s.log, Metrics: s.km, OnAck: s.onAck})
	}
	return s, nil
}

// runsPipeline reports whether this process consumes the raw inputs with
// the one-stage pipeline: role single, or stage 1 of the scale-out topology.
func (s *Service) runsPipeline() bool {
	return s.cfg.Scale.Role == config.RoleSingle || s.eventsTopic != ""
}

// newWriter returns a producer's writer: murmur2 by key, except the
// changelog, whose records name their partition.
func (s *Service) newWriter() *kafkago.Writer {
	w := kafka.NewWriter(s.cfg.Kafka.Brokers, s.conn)
	explicit := map[string]bool{s.cfg.Scale.StateTopic: true}
	if s.cfg.Scale.PartitionBy == partition.ByAccount {
		explicit[s.cfg.Scale.EventsTopic] = true
	}
	w.Balancer = &kafka.ExplicitBalancer{Topics: explicit}
	return w
}

// openStore restores the snapshot, or starts empty on a first run.
func openStore(path string, opts baseline.Options) (*baseline.Store, error) {
	if path == "" {
		return baseline.New(opts), nil
	}
	st, err := baseline.Restore(path, opts)
	if errors.Is(err, fs.ErrNotExist) {
		return baseline.New(opts), nil
	}
	return st, err
}

// CaughtUp reports whether, in role all, stage 2 has processed as many
// events-topic messages as this process's stage 1 produced (with one
// instance: everything). The demo waits for it.
func (s *Service) CaughtUp() bool {
	if s.det == nil || s.eventsTopic == "" {
		return true
	}
	return s.det.consumedN.Load() >= s.eventsOut.Load()
}

// Processed returns the number of messages processed so far.
func (s *Service) Processed() int64 { return s.processed.Load() }

// Registry returns the registry the metrics are on.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Ready reports whether the service is consuming with a reachable broker and
// a working producer.
func (s *Service) Ready() bool {
	healthy := (s.prod == nil || s.prod.Healthy()) && (s.det == nil || s.det.prod.Healthy())
	return s.running.Load() && !s.stopping.Load() && s.brokerUp.Load() && healthy
}

// Handler serves /metrics, /healthz and /readyz.
func (s *Service) Handler() http.Handler { return newMux(s) }

// Run runs the service until ctx is cancelled, then shuts down gracefully
// (see the package documentation). It returns nil after a clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	var g run.Group
	{
		ctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
	}
	if addr := s.cfg.HTTP.Addr; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("http.addr %s: %w", addr, err)
		}
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		g.Add(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, func(error) {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(c) //nolint:errcheck
		})
		s.log.Info("http endpoint listening", zap.String("addr", ln.Addr().String()))
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { s.probeLoop(ctx); return nil }, func(error) { cancel() })
	}
	if s.runsPipeline() {
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return s.pipeline(ctx) }, func(error) { cancel() })
	}
	if s.det != nil {
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return s.det.run(ctx) }, func(error) { cancel() })
	}
	if s.respondConfigured() {
		// The response stage consumes the alerts topic in its own consumer
		// group, so delivery is decoupled from detection and at-least-once.
		rs, err := respond.New(ctx, s.cfg.Respond, respond.Deps{
			Brokers: s.cfg.Kafka.Brokers, AlertsTopic: s.cfg.Kafka.AlertsTopic, Dialer: s.conn.Dialer,
			Registerer: s.reg, Logger: s.log.Named("respond"), Reader: s.o.RespondReader, Responder: s.o.Responder,
			AWS: s.o.AWS,
		})
		if err != nil {
			s.close()
			return fmt.Errorf("respond: %w", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error { return rs.Responder.Run(ctx) }, func(error) { cancel() })
		defer rs.Close()
	}
	err := g.Run()
	s.close()
	return err
}

// probeLoop keeps brokerUp current by connecting to a broker (with TLS and
// SASL) and asking for its API versions: a fresh connection each time, so
// no cached metadata hides an outage.
func (s *Service) probeLoop(ctx context.Context) {
	t := time.NewTicker(s.o.ProbeInterval)
	defer t.Stop()
	for {
		err := s.probe(ctx)
		up := err == nil
		if was := s.brokerUp.Swap(up); was != up {
			if up {
				s.log.Info("kafka reachable", zap.Strings("brokers", s.cfg.Kafka.Brokers))
			} else {
				s.log.Warn("kafka unreachable; retrying", zap.Strings("brokers", s.cfg.Kafka.Brokers), zap.Error(err))
			}
		}
		s.setReadyGauge()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) probe(ctx context.Context) error {
	var err error
	for _, b := range s.cfg.Kafka.Brokers {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		var conn *kafkago.Conn
		conn, err = s.conn.Dialer.DialContext(c, "tcp", b)
		cancel()
		if err != nil {
			continue
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		_, err = conn.ApiVersions()
		conn.Close()
		if err == nil {
			return nil
		}
	}
	return err
}

func (s *Service) setReadyGauge() {
	if s.Ready() {
		s.m.ready.Set(1)
	} else {
		s.m.ready.Set(0)
	}
}

func (s *Service) close() {
	s.closeOnce.Do(func() {
		if s.cons != nil {
			s.cons.Close()   //nolint:errcheck
			s.writer.Close() //nolint:errcheck
		}
		if s.eng != nil {
			s.eng.Close() //nolint:errcheck
		}
		// Writers and admin requests share the transport: its pooled
		// connections outlive them until closed here.
		s.conn.Transport.CloseIdleConnections()
	})
}

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var _ ingest.Sink = (*sink)(nil)
