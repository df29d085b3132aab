package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// GoBench names a `go test -bench` run of one package.
type GoBench struct {
	Package   string   // import path or ./dir, as go test takes it
	Pattern   string   // -bench regexp
	Benchtime string   // -benchtime; default 1s
	CPU       string   // -cpu list; empty: GOMAXPROCS only
	Extra     []string // further go test flags
}

// BenchResult is one line of benchmark output.
type BenchResult struct {
	Package string             `json:"package"`
	Name    string             `json:"name"`  // without the -N suffix
	Procs   int                `json:"procs"` // the -N suffix (GOMAXPROCS), 1 when absent
	N       int64              `json:"n"`
	Metrics map[string]float64 `json:"metrics"` // by unit: ns/op, MB/s, B/op, allocs/op and custom ones
}

// Metric returns the value of unit and whether the line had it.
func (r BenchResult) Metric(unit string) (float64, bool) {
	v, ok := r.Metrics[unit]
	return v, ok
}

// ErrNoBenchmarks is returned when a run printed no benchmark lines.
var ErrNoBenchmarks = errors.New("bench: no benchmark results")

// RunGoBench runs `go test -run ^$ -bench ...` for gb in dir (the module
// root) and parses its output. The go command is taken from PATH.
func RunGoBench(ctx context.Context, dir string, gb GoBench) ([]BenchResult, error) {
	bt := gb.Benchtime
	if bt == "" {
		bt = "1s"
	}
	args := []string{"test", "-run", "^$", "-bench", gb.Pattern, "-benchtime", bt, "-count", "1"}
	if gb.CPU != "" {
		args = append(args, "-cpu", gb.CPU)
	}
	args = append(args, gb.Extra...)
	args = append(args, gb.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, lastLines(out.String(), 20), errb.String())
	}
	res, err := ParseGoBench(&out)
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("%w: go %s", ErrNoBenchmarks, strings.Join(args, " "))
	}
	for i := range res {
		if res[i].Package == "" {
			res[i].Package = gb.Package
		}
	}
	return res, nil
}

// ParseGoBench reads the text output of go test -bench: every line of the
// form "BenchmarkName-P  N  value unit  value unit ...", with the package
// taken from the preceding "pkg:" line. Other lines are skipped.
func ParseGoBench(r io.Reader) ([]BenchResult, error) {
	var out []BenchResult
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark that logged or failed, not a result line
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		r := BenchResult{Package: pkg, Name: f[0], Procs: 1, N: n, Metrics: map[string]float64{}}
		if i := strings.LastIndexByte(f[0], '-'); i > 0 {
			if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
				r.Name, r.Procs = f[0][:i], p
			}
		}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			r.Metrics[f[i+1]] = v
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

// seconds is a duration in seconds, for JSON.
func seconds(d time.Duration) float64 { return d.Seconds() }
