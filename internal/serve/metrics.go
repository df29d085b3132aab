package serve

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailwatch/trailwatch/baseline"
	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/ingest"
)

// metrics are the service's own; ingest/kafka registers the Kafka ones.
// Label values are fixed in advance: reasons, metric names, topics from the
// config. Never a principal or an address.
type metrics struct {
	messages     *prometheus.CounterVec // by topic
	decoded      *prometheus.CounterVec // events, by source
	rejected     *prometheus.CounterVec // by reason
	skipped      *prometheus.CounterVec // by reason
	insights     prometheus.Counter
	deadLetters  *prometheus.CounterVec // by reason
	alerts       *prometheus.CounterVec // by metric
	eventToAlert prometheus.Histogram
	fetchToAck   prometheus.Histogram
	checkpoints  *prometheus.CounterVec // by result
	ready        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, inputs []string) *metrics {
	const ns = "trailwatch"
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_consumed_total",
			Help: "Kafka messages processed, by input topic."}, []string{"topic"}),
		decoded: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_decoded_total",
			Help: "Records decoded into events, by source."}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_rejected_total",
			Help: "Records that could not be decoded, by reason; each is in the dead-letter topic."}, []string{"reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_skipped_total",
			Help: "Records deliberately not turned into events, by reason."}, []string{"reason"}),
		insights: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "insights_total",
			Help: "CloudTrail Insights events seen (not baselined)."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "deadletters_total",
			Help: "Dead letters enqueued to the dead-letter topic, by reason."}, []string{"reason"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "alerts_total",
			Help: "Alerts enqueued to the alerts topic, by metric."}, []string{"metric"}),
		eventToAlert: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "event_to_alert_seconds",
			Help:    "From the event time of the crossing event to the alert's emission (includes delivery delay).",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 16)}),
		fetchToAck: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "fetch_to_alert_acked_seconds",
			Help:    "From fetching the message being processed when an alert was emitted to the broker's ack of the alert.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "checkpoints_total",
			Help: "Checkpoints (acks, snapshot, commit) by result: ok, error, skipped_busy."}, []string{"result"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "ready",
			Help: "1 when /readyz reports ready."}),
	}
	for _, t := range inputs {
		m.messages.WithLabelValues(t)
	}
	for _, r := range ingest.Reasons {
		m.rejected.WithLabelValues(string(r))
		m.deadLetters.WithLabelValues(string(r))
	}
	for _, r := range ingest.SkipReasons {
		m.skipped.WithLabelValues(string(r))
	}
	for _, s := range []ingest.Source{ingest.SourceCloudTrail, ingest.SourceVPCFlow} {
		m.decoded.WithLabelValues(s.String())
	}
	for mt := range baseline.NumMetrics {
		m.alerts.WithLabelValues(mt.String())
	}
	for _, r := range []string{"ok", "error", "skipped_busy"} {
		m.checkpoints.WithLabelValues(r)
	}
	reg.MustRegister(m.messages, m.decoded, m.rejected, m.skipped, m.insights, m.deadLetters, m.alerts,
		m.eventToAlert, m.fetchToAck, m.checkpoints, m.ready)
	return m
}

// registerEngine exposes the detection counters, read at scrape time from
// stats: one engine's (role single) or the sum over the partitions a detect
// stage owns and has owned (scale-out).
func registerEngine(reg prometheus.Registerer, stats func() (detect.EngineStats, baseline.StoreStats)) {
	const ns = "trailwatch"
	counter := func(name, help string, f func(detect.EngineStats, baseline.StoreStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help},
			func() float64 { return float64(f(stats())) })
	}
	gauge := func(name, help string, f func(baseline.StoreStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help},
			func() float64 { _, s := stats(); return float64(f(s)) })
	}
	reg.MustRegister(
		counter("windows_closed_total", "Principal-windows folded into baselines.", func(s detect.EngineStats, _ baseline.StoreStats) uint64 { return s.WindowsClosed }),
		counter("close_rounds_total", "Window-close rounds completed.", func(s detect.EngineStats, _ baseline.StoreStats) uint64 { return s.Rounds }),
		counter("late_events_total", "Events whose window had closed (not merged).", func(s detect.EngineStats, _ baseline.StoreStats) uint64 { return s.Late }),
		counter("events_processed_total", "Events scored by the detection engine.", func(s detect.EngineStats, _ baseline.StoreStats) uint64 { return s.Events }),
		counter("alerts_suppressed_total", "Alerts silenced by a suppress rule or merged by the cooldown.", func(s detect.EngineStats, _ baseline.StoreStats) uint64 {
			return s.SuppressedConfig + s.SuppressedCooldown
		}),
		gauge("principals_tracked", "Principals with a baseline.", func(s baseline.StoreStats) int64 { return s.Tracked }),
		counter("principals_evicted_idle_total", "Principals forgotten after idle_ttl.", func(_ detect.EngineStats, s baseline.StoreStats) uint64 { return uint64(s.EvictedTTL) }),
		counter("principals_evicted_cap_total", "Principals evicted at max_principals.", func(_ detect.EngineStats, s baseline.StoreStats) uint64 { return uint64(s.EvictedCap) }),
		gauge("state_bytes", "Estimated heap held by baselines.", func(s baseline.StoreStats) int64 { return s.Bytes }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "watermark_seconds",
			Help: "Event-time watermark (newest event time minus allowed lateness), Unix seconds; with several partitions, the oldest."},
			func() float64 {
				e, _ := stats()
				if e.Watermark.IsZero() {
					return 0
				}
				return float64(e.Watermark.Unix())
			}),
	)
}
