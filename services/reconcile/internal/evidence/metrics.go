package evidence

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the evidence metrics, prefix bcosdata_reconcile_evidence_.
type Metrics struct {
	Accepted *prometheus.CounterVec
	Rejected *prometheus.CounterVec
	Spool    prometheus.Gauge
	Sealed   prometheus.Counter
	Sent     prometheus.Counter
	Anchored prometheus.Counter
	// ToAnchor is the time from a record's acceptance to its batch's EvidenceStored event.
	ToAnchor prometheus.Histogram
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "bcosdata", "reconcile_evidence"
	m := &Metrics{
		Accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "accepted_total",
			Help: "Records accepted (committed), by path: grpc, inbox or kafka."}, []string{"source"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_total",
			Help: "Records refused, by reason."}, []string{"reason"}),
		Spool: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_records",
			Help: "Accepted records not sealed into a batch yet."}),
		Sealed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sealed_batches_total",
			Help: "Batches sealed."}),
		Sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "anchor_transactions_total",
			Help: "Anchoring transactions sent (resends included)."}),
		Anchored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "anchored_batches_total",
			Help: "Batches whose EvidenceStored event arrived through events.v1."}),
		ToAnchor: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "accept_to_anchor_seconds",
			Help: "Seconds from a record's acceptance to its batch's EvidenceStored event.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.Accepted, m.Rejected, m.Spool, m.Sealed, m.Sent, m.Anchored, m.ToAnchor)
	}
	return m
}
