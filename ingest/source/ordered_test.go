package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// lineDecoder turns each line "n" into an event whose EventID is the unit
// name and line, and "bad" lines into rejects.
func lineDecoder() DecodeFunc {
	return func(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
		sc := bufio.NewScanner(r)
		var ev ingest.Event
		for line := int64(1); sc.Scan(); line++ {
			p := pos
			p.Line = line
			if sc.Text() == "bad" {
				sink.Reject(&ingest.Reject{Reason: ingest.ReasonMalformedJSON, Pos: p, Raw: sc.Bytes()})
				continue
			}
			ev = ingest.Event{EventID: fmt.Sprintf("%s:%d", pos.Name, line), Time: time.Unix(line, 0), Pos: p}
			sink.Event(&ev)
		}
		return sc.Err()
	}
}

func memUnits(n, lines int) []Unit {
	var us []Unit
	for i := 0; i < n; i++ {
		var b strings.Builder
		for l := 0; l < lines+i%7; l++ {
			if l%13 == 5 {
				b.WriteString("bad\n")
			} else {
				b.WriteString("x\n")
			}
		}
		body := b.String()
		us = append(us, Unit{Name: fmt.Sprintf("u%03d", i), Size: int64(len(body)), Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(body)), nil
		}})
	}
	return us
}

func collect(t *testing.T, units []Unit, par int) (events, rejects []string, errs []string) {
	t.Helper()
	err := Read(context.Background(), units, lineDecoder, Options{Parallelism: par, ChunkEvents: 7}, func(c *Chunk) error {
		for _, ev := range c.Events {
			events = append(events, ev.EventID)
		}
		for _, r := range c.Rejects {
			rejects = append(rejects, r.Pos.String()+" "+string(r.Raw))
		}
		if c.Err != nil {
			errs = append(errs, c.Err.Error())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestReadDeterministicOrder(t *testing.T) {
	units := memUnits(40, 50)
	e1, r1, _ := collect(t, units, 1)
	for _, par := range []int{2, 4, 8} {
		e, r, _ := collect(t, units, par)
		if strings.Join(e, ",") != strings.Join(e1, ",") || strings.Join(r, ",") != strings.Join(r1, ",") {
			t.Fatalf("parallelism %d delivered a different order", par)
		}
	}
	if len(e1) == 0 || len(r1) == 0 {
		t.Fatal("nothing decoded")
	}
}

func TestReadUnitErrorsDoNotStopOthers(t *testing.T) {
	units := memUnits(3, 5)
	units[1].Open = func(context.Context) (io.ReadCloser, error) { return nil, errors.New("boom") }
	events, _, errs := collect(t, units, 2)
	if len(errs) != 1 || !strings.Contains(errs[0], "open u001: boom") {
		t.Fatalf("errs = %v", errs)
	}
	if events[len(events)-1] != "u002:"+fmt.Sprint(5+2) {
		t.Fatalf("last event %s: unit after the failed one was not decoded", events[len(events)-1])
	}
}

func TestReadConsumerStop(t *testing.T) {
	units := memUnits(50, 100)
	stop := errors.New("enough")
	n := 0
	err := Read(context.Background(), units, lineDecoder, Options{Parallelism: 4, ChunkEvents: 3}, func(c *Chunk) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalUnitsSortedRecursive(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"b/2.log", "a/1.log", "a/0.log", ".hidden/x", "c.log"} {
		writeFile(t, dir+"/"+p, "x\n")
	}
	units, err := LocalUnits([]string{dir, "-"}, strings.NewReader("stdin\n"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range units {
		names = append(names, strings.TrimPrefix(u.Name, dir+"/"))
	}
	if got := strings.Join(names, " "); got != "a/0.log a/1.log b/2.log c.log -" {
		t.Fatalf("units = %s", got)
	}
	if _, err := LocalUnits([]string{dir + "/missing"}, nil); err == nil {
		t.Fatal("missing input accepted")
	}
}

func TestKeyTime(t *testing.T) {
	for key, want := range map[string]string{
		"AWSLogs/1/CloudTrail/us-east-1/2025/01/01/1_CloudTrail_us-east-1_20250101T0005Z_ab.json.gz":                          "2025-01-01T00:05:00Z",
		"AWSLogs/1/vpcflowlogs/us-east-1/2025/01/01/1_vpcflowlogs_us-east-1_fl-1_20250101T2355Z_h.log.gz":                     "2025-01-01T23:55:00Z",
		"AWSLogs/1/CloudTrail-Digest/us-east-1/2025/01/01/1_CloudTrail-Digest_us-east-1_t_us-east-1_20250101T010203Z.json.gz": "2025-01-01T01:02:00Z",
		"random/file.json": "",
	} {
		got, ok := KeyTime(key)
		if (want == "") == ok || ok && got.Format(time.RFC3339) != want {
			t.Errorf("KeyTime(%s) = %v %v, want %s", key, got, ok, want)
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSortByKeyTime(t *testing.T) {
	names := []string{
		"-",
		"d/AWSLogs/2/CloudTrail/us-east-1/2025/01/01/2_CloudTrail_us-east-1_20250101T0010Z_a.json.gz",
		"d/AWSLogs/1/CloudTrail/us-east-1/2025/01/01/1_CloudTrail_us-east-1_20250101T0015Z_a.json.gz",
		"d/extra.json",
		"d/AWSLogs/1/CloudTrail/eu-west-1/2025/01/01/1_CloudTrail_eu-west-1_20250101T0010Z_a.json.gz",
	}
	var us []Unit
	for _, n := range names {
		us = append(us, Unit{Name: n})
	}
	SortByKeyTime(us)
	var got []string
	for _, u := range us {
		got = append(got, u.Name)
	}
	want := []string{names[0], names[3], names[4], names[1], names[2]}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("order:\n%s", strings.Join(got, "\n"))
	}
}

// TestReadRecycledChunksStartClean: chunks are reused after deliver returns;
// a reused chunk must carry nothing of its previous unit (skips, rejects,
// errors, bytes). Units alternate between producing skips and rejects and
// producing neither, so any leak shows up in a clean unit.
func TestReadRecycledChunksStartClean(t *testing.T) {
	var units []Unit
	for i := range 60 {
		body := "x\nx\nx\n"
		if i%2 == 0 {
			body = "skip\nbad\nx\n"
		}
		units = append(units, Unit{Name: fmt.Sprintf("u%03d", i), Size: 1, Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(body)), nil
		}})
	}
	dec := func() DecodeFunc {
		inner := lineDecoder()
		return func(r io.Reader, pos ingest.Position, sink ingest.Sink) error {
			b, _ := io.ReadAll(r)
			if strings.HasPrefix(string(b), "skip\n") {
				sink.Skip(ingest.SkipBlank, pos)
				b = b[len("skip\n"):]
			}
			return inner(strings.NewReader(string(b)), pos, sink)
		}
	}
	for _, par := range []int{1, 2, 4} {
		skips := map[int]int64{}
		rejects := map[int]int{}
		events := map[int]int{}
		err := Read(context.Background(), units, dec, Options{Parallelism: par, ChunkEvents: 2}, func(c *Chunk) error {
			skips[c.Unit] += c.Skips[ingest.SkipBlank]
			rejects[c.Unit] += len(c.Rejects)
			events[c.Unit] += len(c.Events)
			if c.Err != nil {
				t.Errorf("unit %d: %v", c.Unit, c.Err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range units {
			wantSkips, wantRejects, wantEvents := int64(0), 0, 3
			if i%2 == 0 {
				wantSkips, wantRejects, wantEvents = 1, 1, 1
			}
			if skips[i] != wantSkips || rejects[i] != wantRejects || events[i] != wantEvents {
				t.Errorf("P=%d unit %d: %d skips, %d rejects, %d events; want %d, %d, %d",
					par, i, skips[i], rejects[i], events[i], wantSkips, wantRejects, wantEvents)
			}
		}
	}
}
