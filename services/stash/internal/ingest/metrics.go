package ingest

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus metrics.
type Metrics struct {
	blocksRead      *prometheus.CounterVec
	blocksVerified  prometheus.Counter
	txsVerified     prometheus.Counter
	blocksIngested  prometheus.Counter
	txsIngested     prometheus.Counter
	blocksPublished prometheus.Counter
	txsPublished    prometheus.Counter
	failures        *prometheus.CounterVec
	lastVerified    prometheus.Gauge
	lastPublished   prometheus.Gauge
	reg             prometheus.Registerer
}

// NewMetrics registers the pipeline metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "bcosdata", "stash"
	m := &Metrics{
		blocksRead: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "source_blocks_read_total",
			Help: "Blocks read from each source, before verification."}, []string{"source"}),
		blocksVerified: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_verified_total",
			Help: "Blocks that passed every check."}),
		txsVerified: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "transactions_verified_total",
			Help: "Transactions of verified blocks (senders recovered)."}),
		blocksIngested: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_ingested_total",
			Help: "Verified blocks committed to PostgreSQL."}),
		txsIngested: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "transactions_ingested_total",
			Help: "Transactions of blocks committed to PostgreSQL."}),
		blocksPublished: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_published_total",
			Help: "Blocks published to Kafka (republications after a restart included)."}),
		txsPublished: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "transactions_published_total",
			Help: "Transactions of blocks published to Kafka."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "verification_failures_total",
			Help: "Blocks that failed verification, by failed check; a block retried after a failure counts once until the stream gets past it."}, []string{"check"}),
		lastVerified: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_verified_block",
			Help: "Highest block verified and stored."}),
		lastPublished: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_published_block",
			Help: "Highest block published to Kafka."}),
		reg: reg,
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.blocksRead, m.blocksVerified, m.txsVerified, m.blocksIngested, m.txsIngested,
		m.blocksPublished, m.txsPublished, m.failures, m.lastVerified, m.lastPublished} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerSource adds the per-source gauges that read live values: head, lag and download
// bytes.
func (m *Metrics) registerSource(name string, head, lag func() float64, downloaded func() float64) error {
	if m.reg == nil {
		return nil
	}
	labels := prometheus.Labels{"source": name}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "bcosdata", Subsystem: "stash", Name: "source_head_block",
			Help: "Highest block the source is known to have.", ConstLabels: labels}, head),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "bcosdata", Subsystem: "stash", Name: "source_lag_blocks",
			Help: "Blocks the source has that are not verified and stored yet.", ConstLabels: labels}, lag),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "bcosdata", Subsystem: "stash", Name: "source_download_bytes_total",
			Help: "Bytes downloaded from the source (HTTP binlog sources).", ConstLabels: labels}, downloaded),
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return err
		}
	}
	return nil
}
