package workload

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Alert is the part of a trailwatch alert (docs/alerts.md) that scoring
// needs; it is parsed from the JSON lines so the harness does not depend on
// the detection package's types.
type Alert struct {
	Principal  string    `json:"principal"`
	Metric     string    `json:"metric"`
	DetectedAt time.Time `json:"detected_at"`
	ID         string    `json:"id"`
}

// ReadAlerts parses alert JSON lines.
func ReadAlerts(r io.Reader) ([]Alert, error) {
	var out []Alert
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var a Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return out, fmt.Errorf("alert line %d: %w", len(out)+1, err)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// Outcome is how one incident fared.
type Outcome struct {
	Incident Incident
	Caught   bool
	Latency  time.Duration // detected_at of the first matching alert minus the incident's start
	AlertID  string
}

// Score is detection quality against ground truth.
type Score struct {
	Outcomes    []Outcome
	Caught      int
	TruePos     int // alerts that belong to an incident
	FalseAlerts int // alerts that belong to none
}

// Recall is the share of incidents caught.
func (s *Score) Recall() float64 {
	if len(s.Outcomes) == 0 {
		return 1
	}
	return float64(s.Caught) / float64(len(s.Outcomes))
}

// Evaluate matches alerts to incidents: an alert belongs to an incident when
// it names the incident's principal and was detected between the incident's
// start and slack after its end (a stolen key tripping api_errors besides
// api_calls is the same incident, not a false alert); the incident is caught
// when such an alert is on the incident's metric.
func Evaluate(incidents []Incident, alerts []Alert, slack time.Duration) Score {
	var s Score
	used := make([]bool, len(alerts))
	for _, inc := range incidents {
		o := Outcome{Incident: inc}
		for i, a := range alerts {
			if a.Principal != inc.Principal || a.DetectedAt.Before(inc.Start) || a.DetectedAt.After(inc.End.Add(slack)) {
				continue
			}
			used[i] = true // the incident's principal during the incident: not a false alert
			if a.Metric != inc.Metric {
				continue // caught only by the metric the incident is about
			}
			if !o.Caught || a.DetectedAt.Sub(inc.Start) < o.Latency {
				o.Caught, o.Latency, o.AlertID = true, a.DetectedAt.Sub(inc.Start), a.ID
			}
		}
		if o.Caught {
			s.Caught++
		}
		s.Outcomes = append(s.Outcomes, o)
	}
	for _, u := range used {
		if u {
			s.TruePos++
		} else {
			s.FalseAlerts++
		}
	}
	return s
}
