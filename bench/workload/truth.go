package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Truth is the ground truth of a generated run, for bench reports: the
// incidents to score detections against and the denominators (records,
// principal-days) that rates are computed over.
type Truth struct {
	Seed           int64      `json:"seed"`
	Start          time.Time  `json:"start"`
	End            time.Time  `json:"end"`
	Accounts       []string   `json:"accounts"`
	Principals     int        `json:"principals"`      // CloudTrail principals, new ones included
	FlowPrincipals int        `json:"flow_principals"` // instances and ENIs
	Stats          TruthStats `json:"stats"`
	Incidents      []Incident `json:"incidents"`
}

// TruthStats are Stats with JSON names.
type TruthStats struct {
	CloudTrail    int64 `json:"cloudtrail_records"`
	Flows         int64 `json:"flow_records"`
	Errors        int64 `json:"error_records"`
	Injected      int64 `json:"injected_records"`
	PrincipalDays int64 `json:"principal_days"`
}

// Truth returns the ground truth; its Stats are those of what Next has
// produced so far, so call it after draining the generator.
func (g *Generator) Truth() Truth {
	s := g.stats
	return Truth{
		Seed:           g.cfg.Seed,
		Start:          g.start,
		End:            g.start.Add(g.cfg.Duration),
		Accounts:       g.Accounts(),
		Principals:     len(g.ps),
		FlowPrincipals: len(g.enis),
		Stats:          TruthStats{CloudTrail: s.CloudTrail, Flows: s.Flows, Errors: s.Errors, Injected: s.Injected, PrincipalDays: s.PrincipalDays},
		Incidents:      g.Incidents(),
	}
}

// WriteTruth writes t as indented JSON to path, atomically (a temporary file
// renamed into place), so a reader never sees half a ground truth.
func WriteTruth(path string, t Truth) error {
	if t.Incidents == nil {
		t.Incidents = []Incident{}
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode truth: %w", err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".truth-*.json")
	if err != nil {
		return fmt.Errorf("write truth %s: %w", path, err)
	}
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write truth %s: %w", path, err)
	}
	return nil
}

// ReadTruth reads a file written by WriteTruth.
func ReadTruth(path string) (Truth, error) {
	var t Truth
	b, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("read truth: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("read truth %s: %w", path, err)
	}
	return t, nil
}
