package bench

import (
	"strings"
	"testing"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/trailwatch/trailwatch/ingest/vpcflow
cpu: Some CPU
BenchmarkDecodeLine/v2-2  	  890115	       326.4 ns/op	 358.50 MB/s	   3064064 lines/s	       0 B/op	       0 allocs/op
BenchmarkStoreAdd/principals=10k/store           	  898292	       352.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkStoreAdd/principals=10k/store-routed-2  	  646863	       550.7 ns/op
BenchmarkBroken-2    some log line that is not a result
BenchmarkEngineProcess/P=1-2 	 10	 1000 ns/op	 5e+06 events/s
PASS
pkg: github.com/trailwatch/trailwatch/baseline
BenchmarkMemoryPerPrincipal-2 	 1	 123 ns/op	 300.5 B/principal
ok  	github.com/trailwatch/trailwatch/ingest/vpcflow	1.399s
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		pkg, name string
		procs     int
		n         int64
		unit      string
		v         float64
	}{
		{"github.com/trailwatch/trailwatch/ingest/vpcflow", "BenchmarkDecodeLine/v2", 2, 890115, "lines/s", 3064064},
		{"github.com/trailwatch/trailwatch/ingest/vpcflow", "BenchmarkStoreAdd/principals=10k/store", 1, 898292, "ns/op", 352},
		{"github.com/trailwatch/trailwatch/ingest/vpcflow", "BenchmarkStoreAdd/principals=10k/store-routed", 2, 646863, "ns/op", 550.7},
		{"github.com/trailwatch/trailwatch/ingest/vpcflow", "BenchmarkEngineProcess/P=1", 2, 10, "events/s", 5e6},
		{"github.com/trailwatch/trailwatch/baseline", "BenchmarkMemoryPerPrincipal", 2, 1, "B/principal", 300.5},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Package != w.pkg || g.Name != w.name || g.Procs != w.procs || g.N != w.n {
			t.Errorf("%d: got %s %s -%d n=%d, want %s %s -%d n=%d", i, g.Package, g.Name, g.Procs, g.N, w.pkg, w.name, w.procs, w.n)
		}
		if v, ok := g.Metric(w.unit); !ok || v != w.v {
			t.Errorf("%d: %s = %v (%v), want %v", i, w.unit, v, ok, w.v)
		}
	}
}

// TestSVGEscapes: labels taken from data (principal ARNs, titles) cannot
// break the document.
func TestSVGEscapes(t *testing.T) {
	svg := BarChartSVG(`a <b> & "c"`, "u", "foot & note", []Bar{{Label: "<x>", Value: 3}, {Label: "k", Missing: "not measured yet"}}, 2, "t<")
	checkXML(t, "bar", strings.NewReader(svg))
	if strings.Contains(svg, "<x>") {
		t.Error("label not escaped")
	}
}

func TestFmtNum(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999, "999"}, {1500, "1.5k"}, {45600, "46k"}, {1234567, "1.23M"}} {
		if got := fmtNum(c.v); got != c.want {
			t.Errorf("fmtNum(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}
