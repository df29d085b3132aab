package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/ingest/source"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/logging"
	"github.com/trailwatch/trailwatch/internal/partition"
	"github.com/trailwatch/trailwatch/internal/replay"
)

type replayFlags struct {
	configFile    string
	format        string
	vpcflowFormat string
	from, to      string
	window        time.Duration
	sigma         float64
	out           string
	summaryJSON   string
	deadLetter    string
	state         string
	strict        bool
	parallelism   int
	partitions    int
	partitionBy   string
	s3Endpoint    string
	s3PathStyle   bool
	region        string
	logLevel      string
	sample        bool
	respond       bool
}

func newReplayCmd() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay PATH... | - | s3://BUCKET/PREFIX | kafka://BROKERS/TOPIC?from=RFC3339&to=RFC3339",
		Short: "Replay historical CloudTrail and VPC Flow Logs and write alerts as JSON lines",
		Long: `Replay reads CloudTrail and VPC Flow Log files (plain or gzip, any shape AWS delivers), directories
(recursively), stdin ("-"), S3 prefixes and time ranges of Kafka topics, runs detection and writes
alerts as JSON lines. Inputs are decoded in parallel but always delivered in the same order, so the
same input and flags give byte-identical alerts. A summary goes to stderr (and --summary-json).

A Kafka input, kafka://HOST:PORT[,HOST:PORT...]/TOPIC?from=RFC3339&to=RFC3339, reads every partition
from the first message stamped at or after from up to the last stamped at or before to (either may
be left out) and no further than the end of the topic when the replay starts; messages are merged
by message time, then partition, then offset. No consumer group is used and nothing is committed;
TLS and SASL come from the config's kafka section. Kafka inputs are read after files and S3.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.sample {
				if len(args) > 0 {
					return fmt.Errorf("--sample takes no inputs")
				}
				return nil
			}
			if err := cobra.MinimumNArgs(1)(cmd, args); err != nil {
				return err
			}
			for _, a := range args {
				if kafka.IsURL(a) {
					if _, err := kafka.ParseURL(a); err != nil {
						return err
					}
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd, args, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "YAML config file (ingest, baseline and detect sections)")
	fl.StringVar(&f.format, "format", "", "force the input format: cloudtrail or vpcflow (default: detect per input)")
	fl.StringVar(&f.vpcflowFormat, "vpcflow-format", "", `field list of flow lines without a header, e.g. "version account-id interface-id ..."`)
	fl.StringVar(&f.from, "from", "", "S3: first delivery time to read (RFC 3339)")
	fl.StringVar(&f.to, "to", "", "S3: last delivery time to read (RFC 3339)")
	fl.DurationVar(&f.window, "window", 0, "detection window, e.g. 1m, 5m or 300s (default from config, else 1m)")
	fl.Float64Var(&f.sigma, "sigma", 0, "alert threshold in standard deviations (default from config, else 3)")
	fl.StringVarP(&f.out, "out", "o", "", "write alerts to this file instead of stdout")
	fl.StringVar(&f.summaryJSON, "summary-json", "", "also write the summary to this file as JSON")
	fl.StringVar(&f.deadLetter, "dead-letter", "", "keep every rejected record, with its reason and position, in this file (JSON lines)")
	fl.StringVar(&f.state, "state", "", "baseline snapshot: loaded before the replay if it exists, saved after")
	fl.BoolVar(&f.strict, "strict", false, "exit with status 3 when any record was rejected")
	fl.IntVar(&f.parallelism, "parallelism", runtime.GOMAXPROCS(0), "inputs decoded at once")
	fl.IntVar(&f.partitions, "partitions", 0, fmt.Sprintf("mirror a scaled-out service whose events topic has N partitions: one engine, with its own\n"+
		"baselines, peer groups and watermark, per partition, principals placed as its producer places\n"+
		"them (murmur2); alerts are written when the input ends. 0: one engine. 0..%d, not with --state", replay.MaxPartitions))
	fl.StringVar(&f.partitionBy, "partition-by", partition.ByPrincipal, "with --partitions: how the mirrored service places events (its scale.partition_by): principal or account")
	fl.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL (default: AWS)")
	fl.BoolVar(&f.s3PathStyle, "s3-path-style", false, "use path-style S3 addressing (for S3-compatible stores)")
	fl.StringVar(&f.region, "region", "", "AWS region for S3 (default: from the AWS config chain)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.BoolVar(&f.respond, "respond", false, "deliver alerts to the sinks of the config's respond section (quarantine stays dry-run unless\nrespond.quarantine.dry_run is false)")
	fl.BoolVar(&f.sample, "sample", false, "replay the built-in sample: a seeded organization (120 principals, 12h of CloudTrail\nand flow logs, 5 injected incidents) generated on the fly, then report which incidents were caught")
	return cmd
}

func runReplay(cmd *cobra.Command, args []string, f *replayFlags) error {
	if f.partitions < 0 || f.partitions > replay.MaxPartitions {
		return fmt.Errorf("--partitions: want 0..%d, got %d", replay.MaxPartitions, f.partitions)
	}
	if f.partitionBy != partition.ByPrincipal && f.partitionBy != partition.ByAccount {
		return fmt.Errorf("--partition-by: want principal or account, got %q", f.partitionBy)
	}
	if f.partitions > 0 && f.state != "" {
		return fmt.Errorf("--partitions with --state: %w", replay.ErrPartitionsWithState)
	}
	log, err := logging.New(f.logLevel, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck

	cfg := config.Default()
	if f.configFile != "" {
		if cfg, err = config.Load(f.configFile); err != nil {
			return err
		}
	}
	if f.format != "" {
		cfg.Ingest.Format = f.format
	}
	if f.vpcflowFormat != "" {
		cfg.Ingest.VPCFlow.Format = f.vpcflowFormat
	}
	if f.window != 0 {
		cfg.Detect.Window = f.window
	}
	if f.sigma != 0 {
		cfg.Detect.Sigma = f.sigma
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	decOpts, err := cfg.DecodeOptions()
	if err != nil {
		return err
	}
	var rng source.S3Range
	if rng.From, err = parseTimeFlag("from", f.from); err != nil {
		return err
	}
	if rng.To, err = parseTimeFlag("to", f.to); err != nil {
		return err
	}

	var incidents []workload.Incident
	if f.sample {
		dir, incs, err := writeSample()
		if err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		defer os.RemoveAll(dir)
		args, incidents = []string{sampleInput(dir)}, incs
	}

	var kconn *kafka.Conn
	for _, a := range args {
		if kafka.IsURL(a) {
			if kconn, err = kafka.NewConn(cfg.Kafka.Security(), nil); err != nil {
				return err
			}
			break
		}
	}

	var out io.Writer = cmd.OutOrStdout()
	if f.out != "" {
		file, err := os.Create(f.out)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	var alertCopy bytes.Buffer
	if f.sample {
		out = io.MultiWriter(out, &alertCopy)
	}
	var prog io.Writer
	if fd, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		prog = fd
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	onAlert, closeRespond, err := replayResponder(ctx, f.respond, cfg.Respond, log)
	if err != nil {
		return err
	}
	defer closeRespond()
	sum, err := replay.Run(ctx, replay.Options{
		Inputs:      args,
		Stdin:       cmd.InOrStdin(),
		NewS3:       s3Factory(f),
		S3Range:     rng,
		Kafka:       kconn,
		Decode:      decOpts,
		Baseline:    cfg.BaselineOptions(),
		Detect:      cfg.Detect,
		Parallelism: f.parallelism,
		Partitions:  f.partitions,
		PartitionBy: f.partitionBy,
		Out:         out,
		DeadLetter:  f.deadLetter,
		SummaryJSON: f.summaryJSON,
		StateFile:   f.state,
		Progress:    prog,
		Logger:      log,
		OnAlert:     onAlert,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.ErrOrStderr(), sum.String())
	if f.sample {
		if err := reportSample(cmd.ErrOrStderr(), incidents, alertCopy.Bytes(), cfg.Detect.Window); err != nil {
			return err
		}
	}
	if f.strict && sum.TotalRejected() > 0 {
		return fmt.Errorf("%w: %d (see the summary)", errRejected, sum.TotalRejected())
	}
	return nil
}

func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: want an RFC 3339 time such as 2025-03-01T00:00:00Z: %w", name, err)
	}
	return t.UTC(), nil
}

// s3Factory builds the S3 client lazily, only when an s3:// input is given,
// with credentials from the AWS default chain (environment, shared config,
// SSO, web identity, instance or task role) and never from flags.
func s3Factory(f *replayFlags) func(ctx context.Context) (source.S3API, error) {
	return func(ctx context.Context) (source.S3API, error) {
		var opts []func(*awsconfig.LoadOptions) error
		if f.region != "" {
			opts = append(opts, awsconfig.WithRegion(f.region))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("aws config: %w", err)
		}
		return s3.NewFromConfig(cfg, func(o *s3.Options) {
			if f.s3Endpoint != "" {
				o.BaseEndpoint = aws.String(f.s3Endpoint)
			}
			o.UsePathStyle = f.s3PathStyle
		}), nil
	}
}
