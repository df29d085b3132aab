package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/trailwatch/trailwatch/bench/workload"
)

// sampleConfig is the built-in sample organization replayed by
// `trailwatch replay --sample`: small enough to generate in about a second,
// long enough for baselines to form before the incidents.
func sampleConfig() workload.Config {
	c := workload.DefaultConfig()
	c.Seed = 3
	c.Principals = 120
	c.Instances = 12
	c.Duration = 12 * time.Hour
	c.WarmUp = 5 * time.Hour
	c.FlowsPerMinute = 1
	c.Incidents = true
	return c
}

// writeSample generates the sample's log files (gzip, AWS S3 layout) under
// a new temporary directory and returns it with the generator's truth.
func writeSample() (dir string, incidents []workload.Incident, err error) {
	g, err := workload.New(sampleConfig())
	if err != nil {
		return "", nil, err
	}
	dir, err = os.MkdirTemp("", "trailwatch-sample-")
	if err != nil {
		return "", nil, err
	}
	if _, err := workload.WriteFiles(dir, g, workload.FileOptions{}); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, g.Incidents(), nil
}

// reportSample prints which of the sample's incidents the alerts caught.
func reportSample(w io.Writer, incidents []workload.Incident, alertsJSON []byte, window time.Duration) error {
	alerts, err := workload.ReadAlerts(bytes.NewReader(alertsJSON))
	if err != nil {
		return err
	}
	s := workload.Evaluate(incidents, alerts, window)
	fmt.Fprintf(w, "sample: %d of %d injected incidents caught; %d alerts on incidents, %d others\n",
		s.Caught, len(s.Outcomes), s.TruePos, s.FalseAlerts)
	for _, o := range s.Outcomes {
		status := "MISSED"
		if o.Caught {
			status = fmt.Sprintf("caught %s after it began", o.Latency)
		}
		fmt.Fprintf(w, "  %-22s %-13s %s  %s\n", o.Incident.Kind, o.Incident.Metric, o.Incident.Principal, status)
	}
	return nil
}

func sampleInput(dir string) string { return filepath.Join(dir, "AWSLogs") }
