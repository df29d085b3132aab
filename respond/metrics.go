package respond

import "github.com/prometheus/client_golang/prometheus"

// Delivery results (label values of trailwatch_respond_deliveries_total).
const (
	DeliveryOK       = "ok"        // the sink accepted the alert
	DeliveryRetry    = "retry"     // an attempt failed and will be retried
	DeliveryRejected = "rejected"  // a permanent failure: parked without retrying
	DeliveryExhaust  = "exhausted" // the retry budget ran out: parked
	DeliveryOpen     = "open"      // not attempted: circuit breaker open
)

// Park reasons (header trailwatch-park-reason and label of
// trailwatch_respond_parked_total).
const (
	ParkRejected  = "rejected"          // the sink refused the alert permanently
	ParkExhausted = "retries_exhausted" // every attempt failed
	ParkInvalid   = "invalid_alert"     // the message is not an alert
)

// Circuit breaker states (values of trailwatch_respond_circuit_breaker_state).
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Metrics of the response stage. Label values are fixed in advance: sink
// names come from the config, results and reasons from the constants above;
// never a principal or anything else an alert carries.
type Metrics struct {
	Deliveries *prometheus.CounterVec // sink, result
	Actions    *prometheus.CounterVec // sink, result (ActionResults)
	Retries    *prometheus.CounterVec // sink
	Parked     *prometheus.CounterVec // sink, reason
	Breaker    *prometheus.GaugeVec   // sink
	Committed  prometheus.Counter
	Duration   *prometheus.HistogramVec // sink: one attempt
}

// NewMetrics creates the metrics and registers them on reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "deliveries_total",
			Help: "Delivery attempts by sink and result (ok, retry, rejected, exhausted, open).",
		}, []string{"sink", "result"}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "actions_total",
			Help: "Quarantine decisions by sink and result.",
		}, []string{"sink", "result"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "retries_total",
			Help: "Delivery retries by sink.",
		}, []string{"sink"}),
		Parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "parked_total",
			Help: "Alerts written to the parked topic, by sink and reason.",
		}, []string{"sink", "reason"}),
		Breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "circuit_breaker_state",
			Help: "Circuit breaker state per sink: 0 closed, 1 half-open, 2 open.",
		}, []string{"sink"}),
		Committed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "committed_total",
			Help: "Alerts whose offset was committed (delivered everywhere or parked).",
		}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "trailwatch", Subsystem: "respond", Name: "attempt_duration_seconds",
			Help:    "Duration of one delivery attempt by sink.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.Deliveries, m.Actions, m.Retries, m.Parked, m.Breaker, m.Committed, m.Duration)
	}
	return m
}
