package dashboard

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/piechart"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The chain overview's SQL, against the export tables; $__timeFilter and $__timeGroupAlias
// are Grafana's macros for the dashboard's time range and interval.
const (
	sqlHeight         = `SELECT max(number) AS height FROM export.blocks`
	sqlLastBlockTime  = `SELECT extract(epoch FROM max(time)) * 1000 AS last_block FROM export.blocks`
	sqlBlocksInRange  = `SELECT count(*) AS blocks FROM export.blocks WHERE $__timeFilter(time)`
	sqlTxsInRange     = `SELECT count(*) AS transactions FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number WHERE $__timeFilter(b.time)`
	sqlBlocksOverTime = `SELECT $__timeGroupAlias(time, $__interval), count(*) AS blocks
FROM export.blocks
WHERE $__timeFilter(time)
GROUP BY 1 ORDER BY 1`
	// Transactions by receipt status: 0 is success, 22 (0x16) a revert, others per FISCO BCOS.
	sqlTxsByStatus = `SELECT $__timeGroupAlias(b.time, $__interval),
  CASE WHEN x.status = 0 THEN 'success' ELSE 'status ' || x.status END AS metric,
  count(*) AS transactions
FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number
WHERE $__timeFilter(b.time)
GROUP BY 1, 2 ORDER BY 1, 2`
	sqlStatusBreakdown = `SELECT CASE WHEN x.status = 0 THEN 'success' ELSE 'status ' || x.status END AS status,
  count(*) AS transactions
FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number
WHERE $__timeFilter(b.time)
GROUP BY 1 ORDER BY 2 DESC`
	sqlBusiestContracts = `SELECT '0x' || encode(x.to_address, 'hex') AS contract,
  coalesce(d.contract, '') AS registered_as,
  count(*) AS transactions,
  count(*) FILTER (WHERE x.status <> 0) AS failed
FROM export.transactions x
JOIN export.blocks b ON b.number = x.block_number
LEFT JOIN export.deployments d ON d.address = x.to_address
WHERE $__timeFilter(b.time) AND x.to_address IS NOT NULL
GROUP BY x.to_address, d.contract ORDER BY 3 DESC LIMIT 20`
	sqlTopSenders = `SELECT '0x' || encode(x.from_address, 'hex') AS sender,
  count(*) AS transactions,
  count(*) FILTER (WHERE x.status <> 0) AS failed
FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number
WHERE $__timeFilter(b.time)
GROUP BY x.from_address ORDER BY 2 DESC LIMIT 20`
	sqlLatestBlocks = `SELECT number, time, tx_count, sealer_index, '0x' || encode(hash, 'hex') AS hash
FROM export.blocks
WHERE $__timeFilter(time)
ORDER BY number DESC LIMIT 50`
)

// Chain is the chain overview: height, blocks and transactions over time, the transactions'
// status breakdown, the busiest contracts and senders, the latest blocks.
func Chain() (dashboard.Dashboard, error) {
	var ids idGen
	return newBoard(ChainUID, "bcosdata: chain overview",
		"Blocks and transactions of the chain as exported into PostgreSQL (schema export).", "chain").
		WithRow(dashboard.NewRowBuilder("Height").Id(ids.next())).
		WithPanel(statSQL(&ids, "Exported height", "Highest block in export.blocks.", sqlHeight, "none")).
		WithPanel(statSQL(&ids, "Last block", "Time of the highest exported block.", sqlLastBlockTime, "dateTimeFromNow")).
		WithPanel(statSQL(&ids, "Blocks in range", "Blocks whose time falls in the dashboard's range.", sqlBlocksInRange, "none")).
		WithPanel(statSQL(&ids, "Transactions in range", "Transactions of those blocks.", sqlTxsInRange, "none")).
		WithRow(dashboard.NewRowBuilder("Activity").Id(ids.next())).
		WithPanel(newSeries(&ids, "Blocks", "Blocks per interval.").
			Datasource(postgresRef()).Span(12).Height(8).Unit("none").Min(0).
			WithTarget(newSQL("A", FormatTimeSeries, sqlBlocksOverTime))).
		WithPanel(newSeries(&ids, "Transactions by status", "Transactions per interval by receipt status (0 success, 22 revert).").
			Datasource(postgresRef()).Span(12).Height(8).Unit("none").Min(0).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			WithTarget(newSQL("A", FormatTimeSeries, sqlTxsByStatus))).
		WithPanel(piechart.NewPanelBuilder().Id(ids.next()).Title("Transaction status").
			Description("Receipt statuses of the transactions in range.").
			Datasource(postgresRef()).Span(6).Height(9).
			PieType(piechart.PieChartTypeDonut).Orientation(common.VizOrientationAuto).
			DisplayLabels([]piechart.PieChartLabels{piechart.PieChartLabelsPercent}).
			Legend(piechart.NewPieChartLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).
				ShowLegend(true).Values([]piechart.PieChartLegendValues{piechart.PieChartLegendValuesValue})).
			Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone)).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Values(true).Calcs([]string{"lastNotNull"})).
			WithTarget(newSQL("A", FormatTable, sqlStatusBreakdown))).
		WithPanel(tableSQL(&ids, "Busiest contracts", "Called addresses by transactions in range, with the contract they are registered as.", sqlBusiestContracts, 9)).
		WithPanel(tableSQL(&ids, "Top senders", "Senders by transactions in range.", sqlTopSenders, 9)).
		WithRow(dashboard.NewRowBuilder("Blocks").Id(ids.next())).
		WithPanel(tableSQL(&ids, "Latest blocks", "The newest blocks in range.", sqlLatestBlocks, 24)).
		Build()
}

// newSeries starts a time series panel with a visible legend and a tooltip listing every
// series (the SDK's zero values hide the legend).
func newSeries(ids *idGen, title, description string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().Id(ids.next()).Title(title).Description(description).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
}

// idGen hands out panel IDs in order, so that the output is stable.
type idGen uint32

func (g *idGen) next() uint32 { *g++; return uint32(*g) }

// statSQL is a stat panel over a one-value SQL query.
func statSQL(ids *idGen, title, description, sql, unit string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Id(ids.next()).Title(title).Description(description).
		Datasource(postgresRef()).Span(6).Height(4).Unit(unit).Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Values(false).Calcs([]string{"lastNotNull"})).
		WithTarget(newSQL("A", FormatTable, sql))
}

// tableSQL is a table panel over an SQL query.
func tableSQL(ids *idGen, title, description, sql string, span uint32) *table.PanelBuilder {
	return table.NewPanelBuilder().Id(ids.next()).Title(title).Description(description).
		Datasource(postgresRef()).Span(span).Height(9).
		WithTarget(newSQL("A", FormatTable, sql))
}
