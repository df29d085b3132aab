// Command report runs trailwatch's benchmark suite at a chosen scale and
// writes report.md, report.json and SVG charts (throughput.svg,
// timeline.svg) into a directory:
//
//	go run ./bench/cmd/report [-scale small|medium|large] [-out DIR] [-work DIR] [-gobench=false] [-scaleout=false]
//
// Run it from the module root: the packages' own benchmarks are run with
// `go test -bench` there. The small scale takes a few minutes on two cores.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/trailwatch/trailwatch/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "report:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	names := make([]string, 0, len(bench.Scales))
	for n := range bench.Scales {
		names = append(names, n)
	}
	sort.Strings(names)
	scale := fs.String("scale", "small", "suite size: "+strings.Join(names, ", "))
	out := fs.String("out", "bench-report", "directory for report.md, report.json and the SVG charts")
	work := fs.String("work", "", "directory for generated data (default: a temporary directory, removed after)")
	gobench := fs.Bool("gobench", true, "also run the packages' own benchmarks with go test -bench")
	scaleOut := fs.Bool("scaleout", true, "also measure the scale-out row (1 vs 2 instances of role all, state restore)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	sc, ok := bench.Scales[*scale]
	if !ok {
		return fmt.Errorf("-scale %q: want one of %s", *scale, strings.Join(names, ", "))
	}
	if !*gobench {
		sc.Benchtime = ""
	}
	opts := bench.Options{Scale: sc, WorkDir: *work, Log: stderr, Kafka: kafkaRow}
	if *scaleOut {
		opts.ScaleOut = bench.ScaleRow
	}
	rep, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	if err := rep.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/report.md, report.json and charts in %.0fs\n", *out, rep.Seconds)
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d step(s) failed; see report.md", len(rep.Errors))
	}
	return nil
}

// kafkaRow measures the Kafka end-to-end row (issue 6, row 4): serve
// against kcat on the in-process development broker. Without kcat on PATH
// the row says "not measured yet".
var kafkaRow bench.KafkaFunc = func(ctx context.Context, sc bench.Scale, dir string) (*bench.KafkaResult, error) {
	if _, err := exec.LookPath("kcat"); err != nil {
		fmt.Fprintln(os.Stderr, "  kcat not on PATH: the Kafka row is not measured (apt-get install kcat)")
		return nil, nil
	}
	return bench.KafkaRow(ctx, sc, dir)
}
