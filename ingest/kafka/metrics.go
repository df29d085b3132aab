package kafka

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Kafka source's and sink's. Labels are the topic (from the
// configuration), the partition number and the outcome; never anything
// taken from a message.
type Metrics struct {
	Fetched        *prometheus.CounterVec // messages fetched, by topic
	FetchedBytes   *prometheus.CounterVec // message value bytes fetched, by topic
	FetchErrors    *prometheus.CounterVec // fetch errors, by topic (each is retried)
	Lag            *prometheus.GaugeVec   // messages behind the high watermark, by topic and partition
	Commits        *prometheus.CounterVec // offset commits, by result (ok, error, skipped_rebalance)
	Rebalances     *prometheus.CounterVec // consumer-group generations joined, by topic
	Produced       *prometheus.CounterVec // records acknowledged by the broker, by topic
	ProduceRetries prometheus.Counter     // failed writes retried
	OutboxDepth    prometheus.Gauge       // records enqueued, not yet acknowledged
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "trailwatch", "kafka"
	m := &Metrics{
		Fetched: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "messages_fetched_total", Help: "Messages fetched from input topics."}, []string{"topic"}),
		FetchedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "fetched_bytes_total", Help: "Bytes of message values fetched from input topics."}, []string{"topic"}),
		FetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "fetch_errors_total", Help: "Fetch errors (retried with backoff)."}, []string{"topic"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "consumer_lag_messages", Help: "Messages between the last fetched offset and the partition's high watermark."},
			[]string{"topic", "partition"}),
		Commits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "commits_total", Help: "Offset commits by result: ok, error, skipped_rebalance."}, []string{"result"}),
		Rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rebalances_total", Help: "Consumer-group generations joined."}, []string{"topic"}),
		Produced: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "produced_total", Help: "Records acknowledged by the broker (RequiredAcks all)."}, []string{"topic"}),
		ProduceRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "produce_retries_total", Help: "Failed writes of alerts or dead letters, retried."}),
		OutboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "outbox_records", Help: "Alerts and dead letters enqueued and not yet acknowledged."}),
	}
	for _, r := range []string{"ok", "error", "skipped_rebalance"} {
		m.Commits.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Fetched, m.FetchedBytes, m.FetchErrors, m.Lag, m.Commits, m.Rebalances,
			m.Produced, m.ProduceRetries, m.OutboxDepth)
	}
	return m
}

func partLabel(p int) string { return strconv.Itoa(p) }
