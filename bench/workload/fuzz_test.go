package workload

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzGenerate runs the generator on arbitrary small configurations: any
// configuration that validates must generate without panicking, in time
// order, with valid JSON bodies whose canonical key is the record's
// principal, and flow lines of the right width.
func FuzzGenerate(f *testing.F) {
	f.Add(int64(1), uint16(300), uint8(3), uint16(40), uint16(30), uint8(2), 0.5, true, uint8(0))
	f.Add(int64(-5), uint16(1), uint8(1), uint16(1), uint16(1), uint8(1), 0.0, false, uint8(1))
	f.Add(int64(99), uint16(7), uint8(40), uint16(3), uint16(200), uint8(3), 20.0, true, uint8(2))
	f.Fuzz(func(t *testing.T, seed int64, principals uint16, accounts uint8, instances uint16, minutes uint16, regions uint8, rate float64, incidents bool, format uint8) {
		all := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"}
		cfg := Config{
			Seed: seed, Principals: int(principals % 2000), Accounts: int(accounts % 50), Instances: int(instances % 500),
			Duration: time.Duration(minutes%240)*time.Minute + time.Duration(seed&63)*time.Second,
			Regions:  all[:int(regions)%len(all)], RatePerMinute: rate, Incidents: incidents,
			WarmUp: time.Duration(minutes%60) * time.Minute, FlowFormat: FlowFormat(format % 4),
		}
		g, err := New(cfg)
		if err != nil {
			if cfg.Validate() == nil {
				t.Fatalf("New failed on a valid config: %v", err)
			}
			return
		}
		var r Record
		var last time.Time
		for n := 0; n < 5000 && g.Next(&r); n++ {
			if r.Time.Before(last) {
				t.Fatalf("time went back")
			}
			last = r.Time
			if r.Kind == VPCFlow {
				if got := len(strings.Fields(string(r.Body))); got != r.Format.Fields() {
					t.Fatalf("%d fields in %s line %q", got, r.Format, r.Body)
				}
				continue
			}
			var c ctRecord
			if err := json.Unmarshal(r.Body, &c); err != nil {
				t.Fatalf("invalid JSON: %v: %s", err, r.Body)
			}
			if k := canonicalKey(&c); k != r.Principal {
				t.Fatalf("principal %q, body says %q", r.Principal, k)
			}
		}
	})
}
