package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are export's pipeline metrics, prefix bcosdata_export_.
type Metrics struct {
	Height         prometheus.Gauge
	Lag            prometheus.Gauge
	Blocks         prometheus.Counter
	Skipped        prometheus.Counter
	Rows           *prometheus.CounterVec
	DecodeFailures *prometheus.CounterVec
	Backfills      *prometheus.CounterVec
	BackfillRows   *prometheus.CounterVec
	BackfillBlocks *prometheus.CounterVec
	Published      *prometheus.CounterVec
	OutboxBacklog  prometheus.Gauge
	Redecoded      prometheus.Counter
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "bcosdata", "export"
	m := &Metrics{
		Height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "exported_height",
			Help: "Highest block stored in the export tables."}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lag_blocks",
			Help: "Block messages on the blocks topic the group has not applied yet (one message per block)."}),
		Blocks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_total",
			Help: "Blocks applied (stored, or skipped before the start)."}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_skipped_total",
			Help: "Blocks before -start-block or -start-time, skipped."}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rows_written_total",
			Help: "Rows inserted, by table (rows a replay found already there are not counted)."}, []string{"table"}),
		DecodeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "decode_failures_total",
			Help: "Logs and calls of registered contracts that did not decode, by contract."}, []string{"contract"}),
		Backfills: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "backfills_total",
			Help: "Backfills run, by reason: contract (registered or changed) or deployment (learned after its calls were stored)."}, []string{"reason"}),
		BackfillRows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "backfill_items_total",
			Help: "Stored calls and logs decoded again by backfills, by contract."}, []string{"contract"}),
		BackfillBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "backfill_blocks_total",
			Help: "Stored blocks backfills decoded again, by reason: contract (every stored block, once per backfill) or deployment (the blocks holding the address's calls and logs)."}, []string{"reason"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "published_total",
			Help: "Messages published from the outbox, by topic."}, []string{"topic"}),
		OutboxBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "outbox_backlog",
			Help: "Decoded messages committed but not yet published."}),
		Redecoded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "batches_redecoded_total",
			Help: "Batches decoded again in their transaction: a deployment of an address they use was recorded after they were decoded ahead of it."}),
	}
	if reg != nil {
		reg.MustRegister(m.Height, m.Lag, m.Blocks, m.Skipped, m.Rows, m.DecodeFailures, m.Backfills, m.BackfillRows, m.BackfillBlocks, m.Published, m.OutboxBacklog, m.Redecoded)
	}
	return m
}
