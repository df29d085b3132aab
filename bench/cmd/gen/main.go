// Command gen writes a seeded, labelled workload to a directory in AWS's S3
// layout, with its ground truth beside it:
//
//	go run ./bench/cmd/gen -out DIR -principals 300 -duration 24h -seed 1 [-gzip=true]
//
// DIR/AWSLogs/... holds the CloudTrail and VPC flow log files (replay them
// with `trailwatch replay DIR/AWSLogs`), DIR/truth.json the incidents and
// counts the bench report scores detections against.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/bench/workload"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gen:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	d := workload.DefaultConfig()
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	out := fs.String("out", "", "output directory (required)")
	principals := fs.Int("principals", d.Principals, "CloudTrail principals")
	accounts := fs.Int("accounts", d.Accounts, "AWS accounts")
	instances := fs.Int("instances", d.Instances, "EC2 instances with flow logs")
	regions := fs.String("regions", strings.Join(d.Regions, ","), "comma-separated regions")
	start := fs.String("start", d.Start.Format(time.RFC3339), "first event time (RFC 3339)")
	duration := fs.Duration("duration", d.Duration, "span of event time")
	seed := fs.Int64("seed", d.Seed, "random seed; same seed and flags give identical output")
	rate := fs.Float64("rate", d.RatePerMinute, "mean API calls per principal-minute at peak")
	flows := fs.Float64("flows", d.FlowsPerMinute, "mean flow records per ENI-minute")
	incidents := fs.Bool("incidents", true, "inject incidents")
	warmup := fs.Duration("warmup", d.WarmUp, "no incidents before this much event time")
	perKind := fs.Int("incidents-per-kind", d.IncidentsPerKind, "incidents of each kind")
	format := fs.String("flow-format", "mixed", "flow log format: mixed, v2 or v5")
	gz := fs.Bool("gzip", true, "gzip the files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-out DIR is required and no positional arguments are accepted")
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	cfg := workload.Config{
		Seed: *seed, Principals: *principals, Accounts: *accounts, Instances: *instances,
		Regions: strings.Split(*regions, ","), Start: st, Duration: *duration,
		RatePerMinute: *rate, FlowsPerMinute: *flows, ErrorRate: d.ErrorRate, ZipfS: d.ZipfS,
		Incidents: *incidents, WarmUp: *warmup, IncidentsPerKind: *perKind,
	}
	switch *format {
	case "mixed":
	case "v2":
		cfg.FlowFormat = workload.FlowV2
	case "v5":
		cfg.FlowFormat = workload.FlowV5
	default:
		return fmt.Errorf("-flow-format %q: want mixed, v2 or v5", *format)
	}
	g, err := workload.New(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	fst, err := workload.WriteFiles(*out, g, workload.FileOptions{Plain: !*gz})
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	truth := g.Truth()
	truthPath := filepath.Join(*out, "truth.json")
	if err := workload.WriteTruth(truthPath, truth); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s in %s\n", filepath.Join(*out, "AWSLogs"), elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  cloudtrail: %d records in %d files\n", fst.CloudTrailRecords, fst.CloudTrailFiles)
	fmt.Fprintf(stdout, "  vpcflow:    %d records in %d files\n", fst.FlowRecords, fst.FlowFiles)
	fmt.Fprintf(stdout, "  bytes:      %d\n", fst.Bytes)
	fmt.Fprintf(stdout, "  principals: %d cloudtrail, %d flow; %d principal-days\n", truth.Principals, truth.FlowPrincipals, truth.Stats.PrincipalDays)
	fmt.Fprintf(stdout, "  errors:     %d records; injected: %d records\n", truth.Stats.Errors, truth.Stats.Injected)
	fmt.Fprintf(stdout, "truth: %s (%d incidents)\n", truthPath, len(truth.Incidents))
	for _, in := range truth.Incidents {
		fmt.Fprintf(stdout, "  %s %s..%s %s %s\n", in.ID, in.Start.Format(time.RFC3339), in.End.Format("15:04"), in.Metric, in.Principal)
	}
	return nil
}
