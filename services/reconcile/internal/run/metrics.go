package run

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// Metrics are reconcile's metrics, prefix bcosdata_reconcile_.
type Metrics struct {
	Runs     *prometheus.CounterVec
	Results  *prometheus.CounterVec
	Rows     prometheus.Counter
	Records  prometheus.Counter
	Height   prometheus.Gauge
	Time     prometheus.Gauge
	Lag      prometheus.Gauge
	Triggers *prometheus.CounterVec
	// Published counts results messages written to the broker; OutboxBacklog is how many wait
	// in the outbox.
	Published     prometheus.Counter
	OutboxBacklog prometheus.Gauge
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "bcosdata", "reconcile"
	m := &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "runs_total",
			Help: "Run attempts ended, by job and state: succeeded, failed, or retry (failed, tried again later)."}, []string{"job", "state"}),
		Results: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "results_total",
			Help: "Results of succeeded runs, by job and outcome."}, []string{"job", "outcome"}),
		Rows: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "business_rows_total",
			Help: "Business rows read, malformed ones included."}),
		Records: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "chain_records_total",
			Help: "Decoded events and calls consumed from export's topics."}),
		Height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "consumed_height",
			Help: "Highest block of the decoded records consumed."}),
		Time: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "consumed_block_time_seconds",
			Help: "Highest block time of the decoded records consumed (Unix seconds)."}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lag_messages",
			Help: "Messages of the decoded topics not applied yet."}),
		Triggers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "triggers_total",
			Help: "Runs triggered, by how: api or schedule."}, []string{"by"}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "published_total",
			Help: "Results messages (one per run that ended) written to reconcile.results.v1; a copy sent again after a failure counts again."}),
		OutboxBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "outbox_backlog",
			Help: "Results messages of ended runs not yet published."}),
	}
	if reg != nil {
		reg.MustRegister(m.Runs, m.Results, m.Rows, m.Records, m.Height, m.Time, m.Lag, m.Triggers, m.Published, m.OutboxBacklog)
	}
	return m
}

// Job creates a job's runs and results series at zero, so that the first failed run or the
// first mismatch of a job is an increase an alert sees (increase() of a series that appears
// with its first value counts nothing).
func (m *Metrics) Job(name string) {
	for _, s := range []string{store.StateSucceeded, store.StateFailed, "retry"} {
		m.Runs.WithLabelValues(name, s)
	}
	for _, o := range store.Outcomes {
		m.Results.WithLabelValues(name, o)
	}
}
