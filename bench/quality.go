package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"time"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/bench/workload"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/cloudtrail"
	"github.com/trailwatch/trailwatch/internal/replay"
)

// QualitySpec describes a detection-quality run: an organisation generated
// for WarmUpDays+ScoredDays days, incidents only in the scored days, alerts
// scored only there.
type QualitySpec struct {
	Seed             int64
	Principals       int
	Instances        int
	WarmUpDays       int
	ScoredDays       int
	IncidentsPerKind int
	// Detect is the detection config; the zero value means the built-in
	// defaults (internal/config.Default, as `trailwatch replay` runs).
	Detect *detect.Config
}

// QualityResult is detection quality against ground truth.
type QualityResult struct {
	Spec               QualitySpec       `json:"spec"`
	ScoredFrom         time.Time         `json:"scored_from"`
	ScoredTo           time.Time         `json:"scored_to"`
	Records            int64             `json:"records"`
	Incidents          int               `json:"incidents"`
	Caught             int               `json:"caught"`
	Recall             float64           `json:"recall"`
	Alerts             int               `json:"alerts"`         // in the scored period
	FalseAlerts        int               `json:"false_alerts"`   // in the scored period
	PrincipalDays      int64             `json:"principal_days"` // distinct (principal, UTC day) with activity, scored period
	FalsePer1000PDays  float64           `json:"false_per_1000_principal_days"`
	LatencyMedianSec   float64           `json:"latency_median_seconds"`
	LatencyMaxSec      float64           `json:"latency_max_seconds"`
	WindowSec          float64           `json:"window_seconds"`
	WarmUpAlerts       int               `json:"warm_up_alerts"` // alerts before the scored period (not scored)
	Outcomes           []IncidentOutcome `json:"outcomes"`
	FalseAlertDetail   []AlertLine       `json:"false_alert_detail"`
	FalseByMetric      map[string]int    `json:"false_by_metric"`
	FalseColdStart     int               `json:"false_cold_start"` // false alerts scored against a peer group (principal too young)
	Timeline           *Timeline         `json:"timeline,omitempty"`
	DetectConfigSource string            `json:"detect_config"`
}

// IncidentOutcome is how one incident fared.
type IncidentOutcome struct {
	ID         string  `json:"id"`
	Kind       string  `json:"kind"`
	Metric     string  `json:"metric"`
	Principal  string  `json:"principal"`
	Caught     bool    `json:"caught"`
	LatencySec float64 `json:"latency_seconds"`
	AlertID    string  `json:"alert_id,omitempty"`
}

// AlertLine is the part of an alert the report shows.
type AlertLine struct {
	ID              string    `json:"id"`
	Principal       string    `json:"principal"`
	PrincipalType   string    `json:"principal_type"`
	Metric          string    `json:"metric"`
	Observed        float64   `json:"observed"`
	Mean            float64   `json:"mean"`
	StdDev          float64   `json:"stddev"`
	ZScore          float64   `json:"zscore"`
	Threshold       float64   `json:"threshold"`
	BaselineWindows int       `json:"baseline_windows"`
	PeerGroup       string    `json:"peer_group,omitempty"`
	WindowStart     time.Time `json:"window_start"`
	DetectedAt      time.Time `json:"detected_at"`
}

// Timeline is one incident principal's metric per window with the baseline
// as each window opened, the material of the timeline chart.
type Timeline struct {
	Incident  string    `json:"incident"`
	Principal string    `json:"principal"`
	Metric    string    `json:"metric"`
	WindowSec float64   `json:"window_seconds"`
	Sigma     float64   `json:"sigma"`
	Start     time.Time `json:"start"` // of the first window shown
	Values    []float64 `json:"values"`
	Mean      []float64 `json:"mean"`
	// EffSigma is the standard deviation the detector scores with:
	// max(stddev, min_sigma, and for counts sqrt(mean)).
	EffSigma []float64 `json:"effective_sigma"`
	// Threshold is the value a window had to reach to alert:
	// max(mean + sigma·EffSigma, mean + min_excess).
	Threshold   []float64 `json:"threshold"`
	IncStart    time.Time `json:"incident_start"`
	IncEnd      time.Time `json:"incident_end"`
	AlertAt     time.Time `json:"alert_at"`
	AlertValue  float64   `json:"alert_observed"`
	AlertThresh float64   `json:"alert_threshold"`
}

func (q *QualitySpec) defaults() {
	d := workload.DefaultConfig()
	if q.Principals == 0 {
		q.Principals = d.Principals
	}
	if q.Instances == 0 {
		q.Instances = d.Instances
	}
	if q.WarmUpDays == 0 {
		q.WarmUpDays = 4
	}
	if q.ScoredDays == 0 {
		q.ScoredDays = 1
	}
	if q.IncidentsPerKind == 0 {
		q.IncidentsPerKind = 1
	}
}

// WorkloadConfig is the generator configuration of the run.
func (q QualitySpec) WorkloadConfig() workload.Config {
	q.defaults()
	c := workload.DefaultConfig()
	c.Seed = q.Seed
	c.Principals = q.Principals
	c.Instances = q.Instances
	c.Duration = time.Duration(q.WarmUpDays+q.ScoredDays) * 24 * time.Hour
	c.WarmUp = time.Duration(q.WarmUpDays) * 24 * time.Hour
	c.Incidents = true
	c.IncidentsPerKind = q.IncidentsPerKind
	return c
}

// RunQuality generates the spec's workload under dir, replays it and scores
// the alerts of the scored period against the ground truth.
func RunQuality(ctx context.Context, dir string, spec QualitySpec) (*QualityResult, error) {
	spec.defaults()
	if _, err := GenerateFiles(dir, spec.WorkloadConfig(), false); err != nil {
		return nil, err
	}
	return ScoreQuality(ctx, dir, spec)
}

// ScoreQuality replays a workload RunQuality generated under dir (with the
// same spec but for Detect, which may differ: the way to compare detection
// configs on identical input) and scores it.
func ScoreQuality(ctx context.Context, dir string, spec QualitySpec) (*QualityResult, error) {
	spec.defaults()
	wc := spec.WorkloadConfig()
	truth, err := workload.ReadTruth(filepath.Join(dir, "truth.json"))
	if err != nil {
		return nil, err
	}
	opts := ReplayOptions(dir)
	src := "built-in defaults (internal/config.Default)"
	if spec.Detect != nil {
		opts.Detect = *spec.Detect
		opts.Baseline.Window = spec.Detect.Window
		src = "custom (see spec)"
	}
	var out bytes.Buffer
	opts.Out = &out
	sum, err := replay.Run(ctx, opts)
	if err != nil {
		return nil, err
	}
	lines, err := parseAlerts(out.Bytes())
	if err != nil {
		return nil, err
	}
	win := opts.Detect.Window
	if win == 0 {
		win = time.Minute
	}
	from := truth.Start.Add(wc.WarmUp)
	res := &QualityResult{Spec: spec, ScoredFrom: from, ScoredTo: truth.End, Records: sum.Records,
		Incidents: len(truth.Incidents), WindowSec: win.Seconds(), FalseByMetric: map[string]int{},
		DetectConfigSource: src}

	var scored []workload.Alert
	var scoredLines []AlertLine
	for _, a := range lines {
		if a.DetectedAt.Before(from) {
			res.WarmUpAlerts++
			continue
		}
		scored = append(scored, workload.Alert{Principal: a.Principal, Metric: a.Metric, DetectedAt: a.DetectedAt, ID: a.ID})
		scoredLines = append(scoredLines, a)
	}
	res.Alerts = len(scored)
	s := workload.Evaluate(truth.Incidents, scored, win)
	res.Caught, res.Recall = s.Caught, s.Recall()
	var lat []float64
	for _, o := range s.Outcomes {
		io := IncidentOutcome{ID: o.Incident.ID, Kind: o.Incident.Kind, Metric: o.Incident.Metric,
			Principal: o.Incident.Principal, Caught: o.Caught, AlertID: o.AlertID}
		if o.Caught {
			io.LatencySec = o.Latency.Seconds()
			lat = append(lat, io.LatencySec)
		}
		res.Outcomes = append(res.Outcomes, io)
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		res.LatencyMedianSec = lat[len(lat)/2]
		if len(lat)%2 == 0 {
			res.LatencyMedianSec = (lat[len(lat)/2-1] + lat[len(lat)/2]) / 2
		}
		res.LatencyMaxSec = lat[len(lat)-1]
	}
	for _, a := range scoredLines {
		if belongsToIncident(a, truth.Incidents, win) {
			continue
		}
		res.FalseAlerts++
		res.FalseAlertDetail = append(res.FalseAlertDetail, a)
		res.FalseByMetric[a.Metric]++
		if a.PeerGroup != "" {
			res.FalseColdStart++
		}
	}
	pdays, tl, err := scanTruth(wc, from, truth.Incidents, lines, opts)
	if err != nil {
		return nil, err
	}
	res.PrincipalDays = pdays
	if pdays > 0 {
		res.FalsePer1000PDays = float64(res.FalseAlerts) * 1000 / float64(pdays)
	}
	res.Timeline = tl
	return res, nil
}

// belongsToIncident is workload.Evaluate's matching rule for one alert.
func belongsToIncident(a AlertLine, incs []workload.Incident, slack time.Duration) bool {
	for _, inc := range incs {
		if a.Principal == inc.Principal && !a.DetectedAt.Before(inc.Start) && !a.DetectedAt.After(inc.End.Add(slack)) {
			return true
		}
	}
	return false
}

func parseAlerts(b []byte) ([]AlertLine, error) {
	var out []AlertLine
	for i, line := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var a AlertLine
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("alert line %d: %w", i+1, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// tlSink keeps the last decoded event.
type tlSink struct {
	ev ingest.Event
	ok bool
}

func (s *tlSink) Event(ev *ingest.Event)              { s.ev, s.ok = *ev, true }
func (s *tlSink) Insight(*ingest.Event, []byte)       {}
func (s *tlSink) Reject(*ingest.Reject)               {}
func (s *tlSink) Skip(ingest.Reason, ingest.Position) {}

// scanTruth regenerates the workload (same seed: the same records) without
// writing it, to count the scored period's principal-days and to build the
// timeline of the first caught CloudTrail incident: its principal's value
// per window, and the baseline as each window opened, computed with the
// baseline package's own statistics from the principal's first record.
func scanTruth(wc workload.Config, from time.Time, incs []workload.Incident, alerts []AlertLine, opts replay.Options) (int64, *Timeline, error) {
	g, err := workload.New(wc)
	if err != nil {
		return 0, nil, err
	}
	var inc *workload.Incident
	var alert *AlertLine
	for i := range incs {
		if incs[i].Metric == baseline.EgressBytes.String() && incs[i].Kind == workload.KindEgressSpike {
			continue // a flow-log principal; the chart shows a CloudTrail one
		}
		for j := range alerts {
			a := &alerts[j]
			if a.Principal == incs[i].Principal && a.Metric == incs[i].Metric && !a.DetectedAt.Before(incs[i].Start) {
				inc, alert = &incs[i], a
				break
			}
		}
		if inc != nil {
			break
		}
	}
	win := opts.Detect.Window
	if win == 0 {
		win = time.Minute
	}
	winSecs := int64(win / time.Second)
	type pd struct {
		key string
		day int64
	}
	seen := map[pd]bool{}
	series := map[int64]float64{} // window -> value
	var metric baseline.Metric
	if inc != nil {
		metric, _ = baseline.ParseMetric(inc.Metric)
	}
	dec := cloudtrail.NewDecoder(cloudtrail.Options{})
	var sink tlSink
	var rec workload.Record
	for g.Next(&rec) {
		if !rec.Time.Before(from) {
			seen[pd{rec.Principal, rec.Time.Unix() / 86400}] = true
		}
		if inc == nil || rec.Principal != inc.Principal || rec.Kind != workload.CloudTrail {
			continue
		}
		sink.ok = false
		dec.DecodeRecord(rec.Body, ingest.FilePos("timeline"), &sink)
		if !sink.ok {
			continue
		}
		var x float64
		switch metric {
		case baseline.APICalls:
			x = 1
		case baseline.APIErrors:
			if sink.ev.ErrorCode != "" {
				x = 1
			}
		case baseline.EgressBytes:
			x = float64(sink.ev.EgressBytes)
		}
		series[floorDiv(sink.ev.Time.Unix(), winSecs)] += x
	}
	if inc == nil {
		return int64(len(seen)), nil, nil
	}
	return int64(len(seen)), buildTimeline(inc, alert, series, win, opts), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// timelineBefore is how much history before the incident the chart shows.
const timelineBefore = 2 * time.Hour

// timelineAfter is how much time after the incident's end it shows.
const timelineAfter = 45 * time.Minute

func buildTimeline(inc *workload.Incident, alert *AlertLine, series map[int64]float64, win time.Duration, opts replay.Options) *Timeline {
	winSecs := int64(win / time.Second)
	hl := opts.Baseline.HalfLife
	if hl == 0 {
		hl = 7 * 24 * time.Hour
	}
	decay := baseline.NewDecay(hl, win)
	metric, _ := baseline.ParseMetric(inc.Metric)
	cfg := opts.Detect
	minSigma := cfg.MinSigma.Get(metric)
	minExcess := cfg.MinExcess.Get(metric)
	sigma := cfg.Sigma
	if sigma == 0 {
		sigma = 3
	}
	ws := make([]int64, 0, len(series))
	for w := range series {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i] < ws[j] })
	first := floorDiv(inc.Start.Add(-timelineBefore).Unix(), winSecs)
	last := floorDiv(inc.End.Add(timelineAfter).Unix(), winSecs)
	tl := &Timeline{Incident: inc.ID, Principal: inc.Principal, Metric: inc.Metric, WindowSec: win.Seconds(),
		Sigma: sigma, Start: time.Unix(first*winSecs, 0).UTC(), IncStart: inc.Start, IncEnd: inc.End}
	if alert != nil {
		tl.AlertAt, tl.AlertValue, tl.AlertThresh = alert.DetectedAt, alert.Observed, alert.Threshold
	}
	var st baseline.Stats
	i := 0
	for w := first; w <= last; w++ {
		// Fold every active window before w, as the store does at each close.
		for ; i < len(ws) && ws[i] < w; i++ {
			st.Observe(decay, ws[i], series[ws[i]])
		}
		at := st.At(decay, w)
		sd := at.StdDev()
		eff := max(sd, minSigma)
		if metric.IsCount() && at.Mean > 0 {
			eff = max(eff, math.Sqrt(at.Mean))
		}
		tl.Values = append(tl.Values, series[w])
		tl.Mean = append(tl.Mean, at.Mean)
		tl.EffSigma = append(tl.EffSigma, eff)
		tl.Threshold = append(tl.Threshold, max(at.Mean+sigma*eff, at.Mean+minExcess))
	}
	return tl
}
