package dashboard

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// promQuery is one PromQL expression of a panel and its legend.
type promQuery struct {
	expr, legend string
}

// Pipeline is the pipeline's own health, from the metrics stash, export, reconcile and their
// Kafka consumers register: heights and lag, throughput, verification and decode failures,
// halted partitions, consumer readiness, retries and dead letters, backfills and the outbox,
// and reconciliation runs, differences, lag and results not yet published.
func Pipeline() (dashboard.Dashboard, error) {
	var ids idGen
	return newBoard(PipelineUID, "bcosdata: pipeline health",
		"Stash, export, reconcile and their Kafka consumers, from their Prometheus metrics (/metrics on the admin ports).", "pipeline").
		WithRow(dashboard.NewRowBuilder("Progress").Id(ids.next())).
		WithPanel(promStat(&ids, "Export lag", "Block messages export has not applied yet.",
			`max(bcosdata_export_lag_blocks)`, 1, 100)).
		WithPanel(promStat(&ids, "Stash lag", "Blocks a source has that stash has not verified and stored yet (the worst source).",
			`max(bcosdata_stash_source_lag_blocks)`, 1, 100)).
		WithPanel(promStat(&ids, "Halted partitions", "Partitions stopped at a message their consumer rejected; a restart clears them once the cause is fixed.",
			`sum(bcosdata_kafka_consumer_halted) or vector(0)`, 1, 1)).
		WithPanel(promStat(&ids, "Consumers not ready", "Consumer groups retrying a fetch, apply or commit, or stopped.",
			`count(min by (group) (bcosdata_kafka_consumer_ready) == 0) or vector(0)`, 1, 1)).
		WithPanel(promSeries(&ids, "Heights", "Head of the sources, stash's verified and published heights, export's stored height.", "none", 12,
			promQuery{`max by (source) (bcosdata_stash_source_head_block)`, "source head {{source}}"},
			promQuery{`max(bcosdata_stash_last_verified_block)`, "stash verified"},
			promQuery{`max(bcosdata_stash_last_published_block)`, "stash published"},
			promQuery{`max(bcosdata_export_exported_height)`, "export stored"})).
		WithPanel(promSeries(&ids, "Lag", "Blocks behind: stash behind each source, export behind the blocks topic.", "none", 12,
			promQuery{`max by (source) (bcosdata_stash_source_lag_blocks)`, "stash behind {{source}}"},
			promQuery{`max(bcosdata_export_lag_blocks)`, "export behind the blocks topic"})).
		WithRow(dashboard.NewRowBuilder("Throughput").Id(ids.next())).
		WithPanel(promSeries(&ids, "Blocks", "Blocks per second through each stage.", "ops", 8,
			promQuery{`sum(rate(bcosdata_stash_source_blocks_read_total[$__rate_interval]))`, "stash read"},
			promQuery{`sum(rate(bcosdata_stash_blocks_verified_total[$__rate_interval]))`, "stash verified"},
			promQuery{`sum(rate(bcosdata_stash_blocks_published_total[$__rate_interval]))`, "stash published"},
			promQuery{`sum(rate(bcosdata_export_blocks_total[$__rate_interval]))`, "export applied"})).
		WithPanel(promSeries(&ids, "Transactions", "Transactions per second verified and published by stash.", "ops", 8,
			promQuery{`sum(rate(bcosdata_stash_transactions_verified_total[$__rate_interval]))`, "verified"},
			promQuery{`sum(rate(bcosdata_stash_transactions_published_total[$__rate_interval]))`, "published"})).
		WithPanel(promSeries(&ids, "Rows written", "Rows export inserted per second, by table.", "ops", 8,
			promQuery{`sum by (table) (rate(bcosdata_export_rows_written_total[$__rate_interval]))`, "{{table}}"})).
		WithPanel(promSeries(&ids, "Decoded messages", "Events and calls export published per second, by topic, and the outbox not yet published.", "ops", 12,
			promQuery{`sum by (topic) (rate(bcosdata_export_published_total[$__rate_interval]))`, "{{topic}}"},
			promQuery{`max(bcosdata_export_outbox_backlog)`, "outbox backlog"})).
		WithPanel(promSeries(&ids, "Consumed messages", "Messages each consumer group applied per second.", "ops", 12,
			promQuery{`sum by (group, topic) (rate(bcosdata_kafka_consumer_applied_messages_total[$__rate_interval]))`, "{{group}} {{topic}}"},
			promQuery{`sum by (group, topic) (rate(bcosdata_kafka_consumer_skipped_messages_total[$__rate_interval]))`, "{{group}} {{topic}} skipped (already applied)"})).
		WithRow(dashboard.NewRowBuilder("Failures").Id(ids.next())).
		WithPanel(promSeries(&ids, "Verification failures", "Blocks that failed stash's verification, by check; the stream stops at the last good block.", "none", 8,
			promQuery{`sum by (check) (increase(bcosdata_stash_verification_failures_total[$__rate_interval]))`, "{{check}}"})).
		WithPanel(promSeries(&ids, "Decode failures", "Logs and calls of registered contracts that did not decode, by contract (kept in export.decode_failures).", "none", 8,
			promQuery{`sum by (contract) (increase(bcosdata_export_decode_failures_total[$__rate_interval]))`, "{{contract}}"})).
		WithPanel(promSeries(&ids, "Halted partitions", "1 while a partition is halted at a rejected message.", "none", 8,
			promQuery{`max by (group, topic, partition) (bcosdata_kafka_consumer_halted)`, "{{group}} {{topic}}/{{partition}}"})).
		WithPanel(promSeries(&ids, "Consumer readiness", "1 while a consumer group runs without an ongoing failure.", "none", 8,
			promQuery{`min by (group) (bcosdata_kafka_consumer_ready)`, "{{group}}"})).
		WithPanel(promSeries(&ids, "Retries and dead letters", "Handler attempts retried after a transient failure; messages sent to a dead-letter topic.", "none", 8,
			promQuery{`sum by (group, topic) (increase(bcosdata_kafka_consumer_retries_total[$__rate_interval]))`, "retries {{group}} {{topic}}"},
			promQuery{`sum by (group, topic) (increase(bcosdata_kafka_consumer_dead_lettered_messages_total[$__rate_interval]))`, "dead-lettered {{group}} {{topic}}"})).
		WithPanel(promSeries(&ids, "Backfills", "Backfills export ran, by reason, and the stored blocks they decoded again.", "none", 8,
			promQuery{`sum by (reason) (increase(bcosdata_export_backfills_total[$__rate_interval]))`, "backfills ({{reason}})"},
			promQuery{`sum by (reason) (increase(bcosdata_export_backfill_blocks_total[$__rate_interval]))`, "blocks ({{reason}})"})).
		// Reconcile's runs and results counters carry the reconcile job as label job, which a
		// scrape renames exported_job.
		WithRow(dashboard.NewRowBuilder("Reconciliation").Id(ids.next())).
		WithPanel(promStat(&ids, "Failed runs (24 h)", "Reconciliation runs that failed for good, after their retries, in the last day.",
			`sum(increase(bcosdata_reconcile_runs_total{state="failed"}[1d])) or vector(0)`, 1, 1)).
		WithPanel(promStat(&ids, "Differences (24 h)", "Results of the last day's runs other than matched: mismatched, missing on either side, duplicate keys, malformed rows.",
			`sum(increase(bcosdata_reconcile_results_total{outcome!="matched"}[1d])) or vector(0)`, 1, 1)).
		WithPanel(promStat(&ids, "Reconcile lag", "Decoded messages reconcile has not applied yet.",
			`max(bcosdata_reconcile_lag_messages)`, 1, 1000)).
		WithPanel(promStat(&ids, "Results unpublished", "Run results waiting in reconcile's outbox for the broker.",
			`max(bcosdata_reconcile_outbox_backlog)`, 1, 1)).
		WithPanel(promSeries(&ids, "Runs", "Run attempts ended, by reconcile job and state (retry: failed, tried again later).", "none", 12,
			promQuery{`sum by (exported_job, state) (increase(bcosdata_reconcile_runs_total[$__rate_interval]))`, "{{exported_job}} {{state}}"})).
		WithPanel(promSeries(&ids, "Results", "Results of succeeded runs, by reconcile job and outcome.", "none", 12,
			promQuery{`sum by (exported_job, outcome) (increase(bcosdata_reconcile_results_total[$__rate_interval]))`, "{{exported_job}} {{outcome}}"})).
		WithPanel(promSeries(&ids, "Chain side", "Decoded records reconcile consumed per second, and its lag.", "none", 12,
			promQuery{`sum(rate(bcosdata_reconcile_chain_records_total[$__rate_interval]))`, "records/s"},
			promQuery{`max(bcosdata_reconcile_lag_messages)`, "lag (messages)"})).
		WithPanel(promSeries(&ids, "Results messages", "reconcile.results.v1 messages published per second, and those waiting in the outbox.", "none", 12,
			promQuery{`sum(rate(bcosdata_reconcile_published_total[$__rate_interval]))`, "published/s"},
			promQuery{`max(bcosdata_reconcile_outbox_backlog)`, "outbox backlog"})).
		Build()
}

// promSeries is a time series panel of PromQL queries, lettered A, B, ….
func promSeries(ids *idGen, title, description, unit string, span uint32, queries ...promQuery) *timeseries.PanelBuilder {
	p := newSeries(ids, title, description).Datasource(prometheusRef()).Span(span).Height(8).Unit(unit).Min(0)
	for i, q := range queries {
		p.WithTarget(prometheus.NewDataqueryBuilder().RefId(string(rune('A' + i))).Datasource(prometheusRef()).
			Expr(q.expr).LegendFormat(q.legend).Range())
	}
	return p
}

// promStat is a stat panel of one PromQL expression, amber from warn and red from crit.
func promStat(ids *idGen, title, description, expr string, warn, crit float64) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Id(ids.next()).Title(title).Description(description).
		Datasource(prometheusRef()).Span(6).Height(4).Unit("none").Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Values(false).Calcs([]string{"lastNotNull"})).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
			{Color: "green"}, {Value: &warn, Color: "orange"}, {Value: &crit, Color: "red"},
		})).
		WithTarget(prometheus.NewDataqueryBuilder().RefId("A").Datasource(prometheusRef()).Expr(expr).Instant())
}
