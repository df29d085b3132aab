package detect

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/ingest"
)

// FuzzAlertJSON: whatever strings and numbers an alert holds (principal
// names and actions come from attacker-controlled input), AppendJSON writes
// one valid JSON object, with no raw newline, whose strings decode to what
// encoding/json would have written.
func FuzzAlertJSON(f *testing.F) {
	f.Add("arn:aws:iam::1:user/a", "s3.amazonaws.com:GetObject", 3.5)
	f.Add("\"\\\n\x00\u2028\xff\xfe", "<script>", math.Inf(1))
	f.Add("", "", math.NaN())
	f.Fuzz(func(t *testing.T, principal, key string, x float64) {
		a := &Alert{Principal: principal, Observed: x, Mean: -x, ZScore: x / 3,
			Top: []TopItem{{Key: key, Value: x, Share: 0.5}}, Evidence: []string{key, principal}}
		out := a.AppendJSON(nil)
		if !json.Valid(out) || bytes.ContainsAny(out, "\n\r") {
			t.Fatalf("invalid output %q", out)
		}
		var back struct {
			Principal string `json:"principal"`
			Top       []struct {
				Key string `json:"key"`
			} `json:"top"`
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		want := func(s string) string {
			b, _ := json.Marshal(s)
			var r string
			_ = json.Unmarshal(b, &r)
			return r
		}
		if back.Principal != want(principal) || back.Top[0].Key != want(key) {
			t.Fatalf("strings changed: %q -> %q, %q -> %q", principal, back.Principal, key, back.Top[0].Key)
		}
	})
}

// fuzzEvents turns bytes into a stream of events, 4 bytes each: principal,
// time step (may go backwards), kind, size.
func fuzzEvents(data []byte) []ingest.Event {
	var evs []ingest.Event
	at := t0
	for i := 0; i+4 <= len(data) && len(evs) < 2000; i += 4 {
		p, step, kind, size := data[i], int8(data[i+1]), data[i+2], data[i+3]
		at = at.Add(time.Duration(step) * 7 * time.Second)
		ev := ingest.Event{
			Time:      at,
			Principal: ingest.Principal{Key: "p" + strconv.Itoa(int(p%9)), Type: ingest.PrincipalType(p % 3), Account: strconv.Itoa(int(p % 2))},
			EventID:   strconv.Itoa(i),
		}
		switch kind % 4 {
		case 0:
			ev.Source, ev.Action = ingest.SourceCloudTrail, "svc:A"+strconv.Itoa(int(size%20))
		case 1:
			ev.Source, ev.Action, ev.ErrorCode = ingest.SourceCloudTrail, "svc:E", "Denied"
		case 2:
			ev.Source, ev.Action, ev.EgressBytes = ingest.SourceCloudTrail, "s3:GetObject", uint64(size)<<20
		case 3:
			ev.Source, ev.EgressBytes, ev.EventID = ingest.SourceVPCFlow, uint64(size)<<18, ""
			ev.PeerAddr, ev.PeerPort = netip.AddrFrom4([4]byte{10, 0, 0, size % 16}), uint16(size)
		}
		for range int(kind>>4) + 1 { // repeat to make bursts
			evs = append(evs, ev)
		}
	}
	return evs
}

// FuzzEngine: no input makes the engine panic, deadlock or depend on
// parallelism.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 1, 1, 0xf0, 0, 2, 100, 0x12, 200, 1, 0x80, 0, 0, 3, 5, 0xf3, 255})
	f.Add(bytes.Repeat([]byte{4, 9, 0xf0, 1}, 60))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs := fuzzEvents(data)
		run := func(p int) []byte {
			cfg := Defaults()
			cfg.MinHistory, cfg.PeerMinWindows, cfg.PeerMinSamples = 3, 1, 1
			cfg.MinExcess = MetricValues{}
			cfg.Parallelism = p
			cfg.BatchSize = 3
			c := &collector{}
			e, err := New(cfg, baseline.New(baseline.Options{Shards: 16}), c.emit)
			if err != nil {
				t.Fatal(err)
			}
			for i := range evs {
				e.Process(&evs[i])
			}
			e.Flush()
			e.Close()
			for _, a := range c.alerts {
				if !json.Valid(a.AppendJSON(nil)) {
					t.Fatalf("invalid alert %s", a.AppendJSON(nil))
				}
			}
			return c.lines
		}
		if a, b := run(1), run(3); !bytes.Equal(a, b) {
			t.Fatalf("P=1 and P=3 differ:\n%s", firstDiff(b, a))
		}
	})
}
