package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// ContractUID is the UID of a contract's dashboard.
func ContractUID(name string) string { return uid("bcosdata-contract-", name) }

// Contract is one contract's dashboard: for each typed table (events, methods, constructor)
// a row with its count over time and a table of its latest rows.
func Contract(c *contract.Contract) (dashboard.Dashboard, error) {
	var ids idGen
	b := newBoard(ContractUID(c.Name), "bcosdata: contract "+c.Name,
		fmt.Sprintf("The typed tables of contract %s in schema export: one row per event, method and constructor; "+
			"read-only methods (view, pure), which transactions rarely call, in collapsed rows at the end.", c.Name), "contract")
	readOnly, err := readOnlyMethods(c.ABI)
	if err != nil {
		return dashboard.Dashboard{}, fmt.Errorf("read the ABI of %s: %w", c.Name, err)
	}
	var later []*contract.Table
	for _, t := range c.Tables {
		if t.Kind == contract.MethodTable && readOnly[t.Item] {
			later = append(later, t)
			continue
		}
		b.WithRow(dashboard.NewRowBuilder(rowTitle(t)).Id(ids.next()))
		b.WithPanel(countPanel(&ids, t))
		b.WithPanel(latestPanel(&ids, t))
	}
	for _, t := range later {
		b.WithRow(dashboard.NewRowBuilder(rowTitle(t)).Id(ids.next()).Collapsed(true).
			WithPanel(countPanel(&ids, t)).
			WithPanel(latestPanel(&ids, t)))
	}
	return b.Build()
}

func rowTitle(t *contract.Table) string {
	return fmt.Sprintf("%s %s — export.%s", kindName(t.Kind), t.Signature, t.Name)
}

func countPanel(ids *idGen, t *contract.Table) *timeseries.PanelBuilder {
	return newSeries(ids, countTitle(t), fmt.Sprintf("Rows of export.%s per interval.", t.Name)).
		Datasource(postgresRef()).Span(8).Height(8).Unit("none").Min(0).
		WithTarget(newSQL("A", FormatTimeSeries, CountSQL(t)))
}

func latestPanel(ids *idGen, t *contract.Table) *table.PanelBuilder {
	return table.NewPanelBuilder().Id(ids.next()).Title("Latest " + itemName(t)).
		Description(fmt.Sprintf("The newest rows of export.%s in range; hashes, addresses and bytes as 0x hex, integers exact.", t.Name)).
		Datasource(postgresRef()).Span(16).Height(8).
		WithTarget(newSQL("A", FormatTable, LatestSQL(t)))
}

// readOnlyMethods returns the names of the ABI's functions that are all view or pure (or
// "constant", as older compilers wrote it): calls nodes answer without a transaction.
func readOnlyMethods(abi []byte) (map[string]bool, error) {
	var items []struct {
		Type            string `json:"type"`
		Name            string `json:"name"`
		StateMutability string `json:"stateMutability"`
		Constant        bool   `json:"constant"`
	}
	if err := json.Unmarshal(abi, &items); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	writes := map[string]bool{}
	for _, it := range items {
		if it.Type != "function" && it.Type != "" {
			continue
		}
		if it.StateMutability == "view" || it.StateMutability == "pure" || (it.StateMutability == "" && it.Constant) {
			out[it.Name] = true
		} else {
			writes[it.Name] = true
		}
	}
	for name := range writes {
		delete(out, name) // an overload that writes keeps the method's tables expanded
	}
	return out, nil
}

func kindName(k contract.Kind) string {
	switch k {
	case contract.EventTable:
		return "Event"
	case contract.MethodTable:
		return "Method"
	default:
		return "Constructor"
	}
}

func itemName(t *contract.Table) string {
	if t.Kind == contract.ConstructorTable {
		return "deployments"
	}
	if t.Kind == contract.MethodTable {
		return t.Item + " calls"
	}
	return t.Item + " events"
}

func countTitle(t *contract.Table) string {
	if t.Kind == contract.EventTable {
		return t.Item + " events"
	}
	return itemName(t) + " by outcome"
}

// CountSQL is the count-over-time query of a typed table: events per interval, or calls
// per interval split into succeeded and failed.
func CountSQL(t *contract.Table) string {
	q := "export." + pgx.Identifier{t.Name}.Sanitize()
	values := "count(*) AS " + pgx.Identifier{t.Item}.Sanitize()
	if t.Kind != contract.EventTable {
		values = "count(*) FILTER (WHERE status = 0) AS succeeded,\n  count(*) FILTER (WHERE status <> 0) AS failed"
	}
	return fmt.Sprintf("SELECT $__timeGroupAlias(block_time, $__interval),\n  %s\nFROM %s\nWHERE $__timeFilter(block_time)\nGROUP BY 1 ORDER BY 1", values, q)
}

// LatestSQL is the latest-rows query of a typed table, newest first: the common columns and
// every parameter column, readable in a table (bytes as 0x hex, numbers and JSON as text so
// that 256-bit values stay exact).
func LatestSQL(t *contract.Table) string {
	cols := []string{"block_number", "block_time", hexCol("transaction_hash"), hexCol("contract_address")}
	order := "block_number DESC, transaction_index DESC"
	if t.Kind == contract.EventTable {
		cols = append(cols, "log_index")
		order += ", log_index DESC"
	} else {
		cols = append(cols, hexCol("from_address"), "status")
	}
	for _, c := range t.Columns {
		cols = append(cols, readable(c))
	}
	return fmt.Sprintf("SELECT %s\nFROM %s\nWHERE $__timeFilter(block_time)\nORDER BY %s\nLIMIT 50",
		strings.Join(cols, ",\n  "), "export."+pgx.Identifier{t.Name}.Sanitize(), order)
}

func hexCol(name string) string {
	q := pgx.Identifier{name}.Sanitize()
	return fmt.Sprintf("'0x' || encode(%s, 'hex') AS %s", q, q)
}

// readable renders a parameter column for a table panel.
func readable(c contract.Column) string {
	q := pgx.Identifier{c.Name}.Sanitize()
	switch {
	case c.SQLType == "bytea":
		return hexCol(c.Name)
	case c.SQLType == "jsonb" || strings.HasPrefix(c.SQLType, "numeric") || strings.HasPrefix(c.SQLType, "decimal") || strings.HasSuffix(c.SQLType, "[]"):
		return fmt.Sprintf("%s::text AS %s", q, q)
	default:
		return q
	}
}
