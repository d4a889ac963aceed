package audit

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	written, published, full, dropped, anchorFailed *prometheus.CounterVec
	anchored                                        *prometheus.GaugeVec
}

func newMetrics() *metrics {
	c := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bcosdata", Subsystem: "audit", Name: name, Help: help}, []string{"trail"})
	}
	return &metrics{
		written:      c("records_written_total", "Audit records written to the trail's table."),
		published:    c("records_published_total", "Audit records published to the audit topic."),
		full:         c("queue_full_total", "Decisions that waited for room in a full audit queue (the database is slow or away)."),
		dropped:      c("records_dropped_total", "Decisions dropped because the audit queue stayed full until the call ended."),
		anchorFailed: c("anchor_failures_total", "Attempts to anchor the trail's head that failed (retried at the next interval)."),
		anchored: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "bcosdata", Subsystem: "audit", Name: "anchored_seq",
			Help: "The last seq of the trail whose head was anchored."}, []string{"trail"}),
	}
}

// nopMetrics are a trail's metrics before a Hub registers it: counted, not exported.
func nopMetrics() *metrics { return newMetrics() }

func (m *metrics) register(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.written, m.published, m.full, m.dropped, m.anchorFailed, m.anchored} {
		reg.MustRegister(c)
	}
}
