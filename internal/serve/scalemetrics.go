package serve

import "github.com/prometheus/client_golang/prometheus"

// scaleMetrics are the scale-out topology's: repartitioning (stage 1) and
// partition ownership, restores and the changelog (stage 2).
type scaleMetrics struct {
	produced           prometheus.Counter // stage 1: events produced to the events topic
	noPrincipal        prometheus.Counter // stage 1: events with no principal key (nothing to baseline)
	consumed           prometheus.Counter // stage 2: messages of owned partitions processed
	badEvents          prometheus.Counter // stage 2: events-topic records that did not decode
	skipped            prometheus.Counter // stage 2: events already held by restored state
	duplicates         prometheus.Counter // stage 2: copies of events stage 1 produced again
	owned              prometheus.Gauge
	rebalances         prometheus.Counter
	restoreSeconds     prometheus.Histogram
	restoreBytes       prometheus.Counter
	restoreRecords     prometheus.Counter
	restoredPrincipals prometheus.Counter
	restoreBad         prometheus.Counter
	restoreErrors      prometheus.Counter
	changelogRecords   prometheus.Counter
	changelogBytes     prometheus.Counter
}

func newScaleMetrics(reg prometheus.Registerer) *scaleMetrics {
	const ns = "trailwatch"
	c := func(sub, name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &scaleMetrics{
		produced:    c("repartition", "events_produced_total", "Normalized events produced to the events topic, keyed by principal."),
		noPrincipal: c("repartition", "events_no_principal_total", "Decoded events with no principal key (nothing to baseline), not produced."),
		consumed:    c("partition", "messages_total", "Messages of owned events partitions processed."),
		badEvents:   c("partition", "undecodable_events_total", "Events-topic records that did not decode (dead-lettered)."),
		skipped:     c("partition", "events_already_in_state_total", "Events skipped after a restore because the principal's restored state already holds them."),
		duplicates:  c("partition", "duplicate_events_total", "Copies of events that stage 1 produced again after a rebalance, dropped by their raw position."),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "partition", Name: "owned",
			Help: "Events partitions this instance owns now."}),
		rebalances: c("partition", "generations_total", "Consumer-group generations joined by the detect stage."),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "state", Name: "restore_seconds",
			Help: "Time to restore one partition's state (snapshot and changelog) before processing it.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		restoreBytes:       c("state", "restore_bytes_total", "Bytes of snapshot and changelog read by restores."),
		restoreRecords:     c("state", "restore_records_total", "Changelog records read by restores."),
		restoredPrincipals: c("state", "restored_principals_total", "Principals restored into owned partitions."),
		restoreBad:         c("state", "restore_unusable_records_total", "Changelog or snapshot records that could not be used (skipped)."),
		restoreErrors:      c("state", "restore_errors_total", "Restores that failed and were retried."),
		changelogRecords:   c("state", "changelog_records_total", "State records (and tombstones) written to the changelog."),
		changelogBytes:     c("state", "changelog_bytes_total", "Bytes of state written to the changelog."),
	}
	reg.MustRegister(m.produced, m.noPrincipal, m.consumed, m.badEvents, m.skipped, m.duplicates, m.owned, m.rebalances, m.restoreSeconds,
		m.restoreBytes, m.restoreRecords, m.restoredPrincipals, m.restoreBad, m.restoreErrors, m.changelogRecords, m.changelogBytes)
	return m
}
