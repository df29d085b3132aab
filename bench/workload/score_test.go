package workload

import (
	"strings"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)
	incs := []Incident{
		{ID: "a", Principal: "p1", Metric: "api_calls", Start: t0, End: t0.Add(15 * time.Minute)},
		{ID: "b", Principal: "p2", Metric: "egress_bytes", Start: t0, End: t0.Add(time.Hour)},
	}
	in := `{"id":"1","principal":"p1","metric":"api_calls","detected_at":"2025-03-03T10:00:30Z"}
{"id":"2","principal":"p1","metric":"api_calls","detected_at":"2025-03-03T10:14:00Z"}
{"id":"3","principal":"p1","metric":"api_errors","detected_at":"2025-03-03T10:00:40Z"}
{"id":"4","principal":"p2","metric":"egress_bytes","detected_at":"2025-03-03T09:59:00Z"}
`
	alerts, err := ReadAlerts(strings.NewReader(in))
	if err != nil || len(alerts) != 4 {
		t.Fatalf("%d alerts, %v", len(alerts), err)
	}
	s := Evaluate(incs, alerts, time.Minute)
	if s.Caught != 1 || s.TruePos != 3 || s.FalseAlerts != 1 || s.Recall() != 0.5 {
		t.Fatalf("score %+v", s)
	}
	if o := s.Outcomes[0]; !o.Caught || o.Latency != 30*time.Second || o.AlertID != "1" {
		t.Fatalf("outcome %+v", o)
	}
}
