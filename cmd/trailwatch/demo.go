package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/partition"
	"github.com/trailwatch/trailwatch/internal/serve"
)

type demoFlags struct {
	principals int
	instances  int
	duration   time.Duration
	speed      float64
	seed       int64
	brokerAddr string
	httpAddr   string
	logLevel   string
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch trailwatch catch scripted incidents in a simulated day of a small organization",
		Long: `Demo starts the development Kafka broker and the service, then produces a simulated day of
CloudTrail and VPC flow-log traffic for a small organization (humans on a working-day rhythm,
roles, services, instances) with scripted incidents: a stolen access key bursting API calls, an S3
exfiltration, an instance's egress spike, an AccessDenied enumeration storm. Each alert is printed
as it fires; at the end, which incidents were caught and which were missed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, &f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.principals, "principals", 300, "CloudTrail principals in the organization")
	fl.IntVar(&f.instances, "instances", 30, "EC2 instances with flow logs")
	fl.DurationVar(&f.duration, "duration", 24*time.Hour, "simulated time")
	fl.Float64Var(&f.speed, "speed", 6000, "simulated seconds per second (0: as fast as possible)")
	fl.Int64Var(&f.seed, "seed", 1, "generator seed")
	fl.StringVar(&f.brokerAddr, "broker-addr", "127.0.0.1:9092", "where the development broker listens (port 0: any free port)")
	fl.StringVar(&f.httpAddr, "http-addr", "", "serve /metrics, /healthz, /readyz here during the demo")
	fl.StringVar(&f.logLevel, "log-level", "warn", "service log level")
	return cmd
}

func demoConfig(f *demoFlags) config.Config {
	cfg := config.Default()
	cfg.Kafka.DevBroker = f.brokerAddr
	cfg.Kafka.CommitInterval = time.Second
	cfg.Kafka.FetchMaxWait = 100 * time.Millisecond
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.HeartbeatInterval = 500 * time.Millisecond
	cfg.Kafka.RebalanceTimeout = 6 * time.Second
	cfg.HTTP.Addr = f.httpAddr
	cfg.Log.Level = f.logLevel
	// Simulated time runs thousands of times faster than the wall clock, so
	// a few milliseconds of skew between partitions are minutes of event
	// time: allow for it.
	cfg.Detect.AllowedLateness = 30 * time.Minute
	// A small organization on the scale-out topology: placing events by
	// account keeps each account's peer group whole in one partition, so a
	// brand-new user's first burst is scored as one engine would score it
	// (docs/scaling.md); with per-principal placement the demo's new user
	// would be scored against a fraction of its peers.
	cfg.Scale.PartitionBy = partition.ByAccount
	cfg.Scale.Partitions = 12
	return cfg
}

func runDemo(ctx context.Context, f *demoFlags, out, logw io.Writer) error {
	wc := workload.DefaultConfig()
	wc.Seed = f.seed
	wc.Principals = f.principals
	wc.Instances = f.instances
	wc.Duration = f.duration
	wc.WarmUp = min(6*time.Hour, f.duration/2)
	wc.FlowFormat = workload.FlowV2 // headerless lines need one known format
	wc.Incidents = true
	gen, err := workload.New(wc)
	if err != nil {
		return err
	}
	cfg := demoConfig(f)
	fmt.Fprintf(out, "trailwatch demo: %d principals, %d instances, %s of simulated traffic at %gx, %d scripted incidents\n",
		f.principals, f.instances, f.duration, f.speed, len(gen.Incidents()))

	var mu sync.Mutex
	var alerts []workload.Alert
	onAlert := func(a *detect.Alert) {
		mu.Lock()
		defer mu.Unlock()
		t, _ := time.Parse(time.RFC3339Nano, a.DetectedAt)
		alerts = append(alerts, workload.Alert{Principal: a.Principal, Metric: a.Metric, DetectedAt: t, ID: a.ID})
		fmt.Fprintln(out, formatAlert(a))
	}

	svcCtx, stopSvc := context.WithCancel(context.Background())
	defer stopSvc()
	type started struct {
		svc     *serve.Service
		brokers []string
	}
	startedCh := make(chan started, 1)
	runErr := make(chan error, 1)
	go func() {
		runErr <- runServeWith(svcCtx, cfg, logw, onAlert, func(s *serve.Service, b []string) { startedCh <- started{s, b} })
	}()
	var st started
	select {
	case st = <-startedCh:
	case err := <-runErr:
		return err
	}

	produced, perr := produceDemo(ctx, gen, st.brokers, cfg, f.speed)
	if perr == nil {
		// Wait until the service has processed everything produced.
		tick := time.NewTicker(50 * time.Millisecond)
		for (st.svc.Processed() < produced || !st.svc.CaughtUp()) && ctx.Err() == nil {
			<-tick.C
		}
		tick.Stop()
	}
	stopSvc()
	if err := <-runErr; err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	mu.Lock()
	defer mu.Unlock()
	s := workload.Evaluate(gen.Incidents(), alerts, cfg.Detect.Window)
	fmt.Fprintf(out, "\n%d records produced and processed; %d alerts: %d on incidents, %d others\n", produced, len(alerts), s.TruePos, s.FalseAlerts)
	fmt.Fprintf(out, "incidents caught: %d of %d\n", s.Caught, len(s.Outcomes))
	for _, o := range s.Outcomes {
		status := "MISSED"
		if o.Caught {
			status = fmt.Sprintf("caught %s after it began (alert %s)", o.Latency, o.AlertID)
		}
		fmt.Fprintf(out, "  %-22s %-13s %-60s %s\n", o.Incident.Kind, o.Incident.Metric, o.Incident.Principal, status)
	}
	return nil
}

// runServeWith is runServe with an alert callback.
func runServeWith(ctx context.Context, cfg config.Config, logw io.Writer, onAlert func(*detect.Alert), ready func(*serve.Service, []string)) error {
	serveHook = onAlert
	defer func() { serveHook = nil }()
	return runServe(ctx, cfg, logw, ready)
}

// produceDemo writes the generator's records to the input topics, paced to
// speed, and returns how many it wrote.
func produceDemo(ctx context.Context, gen *workload.Generator, brokers []string, cfg config.Config, speed float64) (int64, error) {
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll, BatchSize: 1000, BatchBytes: 512 << 10, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	ctTopic, flowTopic := cfg.Kafka.Inputs[0], cfg.Kafka.Inputs[len(cfg.Kafka.Inputs)-1]
	var rec workload.Record
	var n int64
	var batch []kafkago.Message
	var simStart time.Time
	wallStart := time.Now()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.WriteMessages(ctx, batch...)
		n += int64(len(batch))
		batch = batch[:0]
		return err
	}
	for gen.Next(&rec) {
		if simStart.IsZero() {
			simStart = rec.Time
		}
		topic := ctTopic
		if rec.Kind == workload.VPCFlow {
			topic = flowTopic
		}
		batch = append(batch, kafkago.Message{Topic: topic, Key: []byte(rec.Principal), Value: slices.Clone(rec.Body)})
		if len(batch) < 2000 {
			continue
		}
		if err := flush(); err != nil {
			return n, err
		}
		if speed > 0 {
			due := wallStart.Add(time.Duration(float64(rec.Time.Sub(simStart)) / speed))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return n, ctx.Err()
				}
			}
		}
	}
	return n, flush()
}

// formatAlert renders an alert on one line for a terminal.
func formatAlert(a *detect.Alert) string {
	var top []string
	for i, t := range a.Top {
		if i == 3 {
			break
		}
		top = append(top, fmt.Sprintf("%s %.0f%%", t.Key, t.Share*100))
	}
	peer := ""
	if a.PeerGroup != "" {
		peer = " vs peers " + a.PeerGroup
	}
	return fmt.Sprintf("%s  %-8s %-12s %s (%s)  observed %s, baseline %s%s, z=%.1f  top: %s",
		strings.Replace(a.DetectedAt, "T", " ", 1)[:19], strings.ToUpper(a.Severity), a.Metric, a.Principal, a.PrincipalType,
		human(a.Metric, a.Observed), human(a.Metric, a.Mean), peer, a.ZScore, strings.Join(top, ", "))
}

func human(metric string, v float64) string {
	if metric != "egress_bytes" {
		return fmt.Sprintf("%.0f", v)
	}
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.1f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
