package respond

import (
	"slices"

	"github.com/trailwatch/trailwatch/detect"
)

// Match reports whether the route selects a: every non-empty list must
// contain the alert's value.
func (r *Route) Match(a *detect.Alert) bool {
	return (len(r.Metrics) == 0 || slices.Contains(r.Metrics, a.Metric)) &&
		(len(r.Severities) == 0 || slices.Contains(r.Severities, a.Severity)) &&
		(len(r.Accounts) == 0 || slices.Contains(r.Accounts, a.Account))
}

// RoutedSink is a sink with the route that selects its alerts.
type RoutedSink struct {
	Sink  Sink
	Route Route
}
