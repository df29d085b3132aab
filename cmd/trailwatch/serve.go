package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/devbroker"
	"github.com/trailwatch/trailwatch/internal/logging"
	"github.com/trailwatch/trailwatch/internal/serve"
)

type serveFlags struct {
	configFile string
	brokers    string
	group      string
	httpAddr   string
	state      string
	role       string
	logLevel   string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Consume CloudTrail and flow-log topics from Kafka, detect continuously, produce alerts to Kafka",
		Long: `Serve runs trailwatch as a service: it consumes the input topics in a consumer group, scores
every principal continuously, produces each alert as JSON to the alerts topic (keyed by principal,
acknowledged by all replicas) and unusable input to the dead-letter topic, and serves /metrics,
/healthz and /readyz. Offsets are committed only after the alerts they caused are acknowledged.

It scales out on Kafka in two stages (docs/scaling.md): stage 1 decodes the raw topics and produces
normalized events keyed by principal to scale.events_topic; stage 2 runs one detection engine per
partition of that topic, its state in the compacted changelog scale.state_topic, restored by
whichever instance owns the partition next. --role all (default) runs both, ingest or detect one;
single is the one-stage pipeline with a local snapshot (--state), for one instance only.

Settings come from --config, then TRAILWATCH_* environment variables (TRAILWATCH_ + the YAML path
in upper case with '.' as '_', e.g. TRAILWATCH_KAFKA_BROKERS=b1:9092,b2:9092), then flags.
With no brokers configured, an in-process development broker is started (data in memory only).
SIGTERM or SIGINT shuts down gracefully: finish in-flight work, commit, snapshot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadServiceConfig(cmd, &f)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, cmd.ErrOrStderr(), nil)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "YAML config file (see trailwatch.example.yaml)")
	fl.StringVar(&f.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers (overrides kafka.brokers; none: development broker)")
	fl.StringVar(&f.group, "group", "", "consumer group id (overrides kafka.group_id)")
	fl.StringVar(&f.httpAddr, "http-addr", "", "address for /metrics, /healthz, /readyz (overrides http.addr)")
	fl.StringVar(&f.state, "state", "", "baseline snapshot file of role single (overrides state.path)")
	fl.StringVar(&f.role, "role", "", "all (stage 1 and 2, the default), ingest (decode and repartition), detect (per-partition detection) or single (one-stage, one instance only); overrides scale.role")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
	return cmd
}

// loadServiceConfig applies file, environment and flags, in that order.
func loadServiceConfig(cmd *cobra.Command, f *serveFlags) (config.Config, error) {
	cfg, err := config.LoadEnv(f.configFile, nil)
	if err != nil {
		return cfg, err
	}
	fl := cmd.Flags()
	if fl.Changed("brokers") {
		cfg.Kafka.Brokers = splitList(f.brokers)
	}
	if fl.Changed("group") {
		cfg.Kafka.GroupID = f.group
	}
	if fl.Changed("http-addr") {
		cfg.HTTP.Addr = f.httpAddr
	}
	if fl.Changed("role") {
		cfg.Scale.Role = f.role
	}
	if fl.Changed("state") {
		cfg.State.Path = f.state
		if !fl.Changed("role") && cfg.Scale.Role == config.RoleAll {
			cfg.Scale.Role = config.RoleSingle // --state names the one-stage pipeline's snapshot
		}
	}
	if fl.Changed("log-level") {
		cfg.Log.Level = f.logLevel
	}
	return cfg, cfg.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newServiceLogger builds the logger from the log section.
func newServiceLogger(cfg config.Config, w io.Writer) (*zap.Logger, error) {
	if cfg.Log.Format == "auto" {
		return logging.New(cfg.Log.Level, w)
	}
	lvl, err := zapcore.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, err
	}
	return logging.NewWithEncoding(lvl, w, cfg.Log.Format == "console"), nil
}

// serveHook, if set, sees every alert (the demo prints them).
var serveHook func(*detect.Alert)

// runServe starts the development broker when no brokers are configured,
// then runs the service until ctx is done. ready, if set, receives the
// service once it is built (the demo uses it).
func runServe(ctx context.Context, cfg config.Config, logw io.Writer, ready func(*serve.Service, []string)) error {
	log, err := newServiceLogger(cfg, logw)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck
	if len(cfg.Kafka.Brokers) == 0 {
		// The events and state topics are created by the service itself,
		// with scale.partitions partitions and the changelog compacted.
		topics := append(append([]string(nil), cfg.Kafka.Inputs...), cfg.Kafka.AlertsTopic, cfg.Kafka.DeadLetterTopic)
		b, err := devbroker.Start(devbroker.Options{Addr: cfg.Kafka.DevBroker, Topics: topics, Logger: log})
		if err != nil {
			return fmt.Errorf("no kafka.brokers configured, and the development broker could not start: %w", err)
		}
		defer b.Close()
		cfg.Kafka.Brokers = b.Addrs()
	}
	svc, err := serve.New(serve.Options{Config: cfg, Logger: log, OnAlert: serveHook})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(svc, cfg.Kafka.Brokers)
	}
	return svc.Run(ctx)
}
