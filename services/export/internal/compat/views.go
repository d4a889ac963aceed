package compat

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Mode is the -compat value that creates the Data-Export views.
const Mode = "dataexport"

// col is one column of a view: its Data-Export name, its expression over export's tables and
// its SQL type (for NULL when the column is skipped).
type col struct {
	name, expr, typ string
}

func hexOf(expr string) string { return "'0x' || encode(" + expr + ", 'hex')" }

// statusOf shows a receipt status as the node's JSON does ("0x0", "0x16").
func statusOf(expr string) string { return "'0x' || to_hex(" + expr + ")" }

// blockCols are the block columns every base view starts with (b is export.blocks).
func blockCols(pk bool) []col {
	cols := []col{
		{"block_hash", hexOf("b.hash"), "text"},
		{"block_height", "b.number", "bigint"},
		{"block_time_stamp", "b.time", "timestamptz"},
		{"depot_updatetime", "b.exported_at", "timestamptz"},
	}
	if pk {
		cols = append([]col{{"pk_id", "b.number", "bigint"}}, cols...)
	}
	return cols
}

// Views returns the Data-Export views over export's tables for reg (nil: no contracts) and
// the plan, with the file's table and column affixes applied as Data-Export applies its
// tablePrefix/tablePostfix and namePrefix/namePostfix. Names are lowercase: PostgreSQL folds
// unquoted names, so Data-Export's HelloWorld_set_method finds helloworld_set_method. A name
// that two views, or a view and one of export's tables in schema export, would share is an
// error (choose another -compat.schema).
func Views(reg *contract.Registry, p *Plan, schema string) ([]store.View, error) {
	var opts contract.Options
	var contracts []*contract.Contract
	if reg != nil {
		opts, contracts = reg.Options(), reg.Contracts()
	}
	tname := func(name string) string { return truncate(strings.ToLower(opts.TablePrefix + name + opts.TableSuffix)) }
	var views []store.View
	add := func(table, name string, cols []col, from string) {
		if p.noView[table] {
			return
		}
		var b strings.Builder
		b.WriteString("SELECT ")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			expr := c.expr
			if p.blank[table][c.name] {
				expr = "NULL::" + c.typ
			}
			fmt.Fprintf(&b, "%s AS %s", expr, pgx.Identifier{c.name}.Sanitize())
		}
		b.WriteString(" FROM " + from)
		views = append(views, store.View{Name: name, Select: b.String()})
	}

	add(BlockDetailInfo, tname(BlockDetailInfo), append(blockCols(true),
		col{"status", "1::smallint", "smallint"},
		col{"tx_count", "b.tx_count", "integer"},
	), "export.blocks b")

	add(BlockRawData, tname(BlockRawData), append(blockCols(true),
		col{"db_hash", "NULL::text", "text"},
		col{"gas_limit", "NULL::numeric", "numeric"},
		col{"gas_used", "b.gas_used", "numeric"},
		col{"parent_hash", hexOf("b.parent_hash"), "text"},
		col{"receipts_root", "NULL::text", "text"},
		col{"sealer", statusOf("b.sealer_index"), "text"},
		col{"state_root", "NULL::text", "text"},
		col{"transactions_root", "NULL::text", "text"},
		col{"extra_data", "NULL::text", "text"},
		col{"logs_bloom", "NULL::text", "text"},
		col{"sealer_list", "NULL::text", "text"},
		col{"signature_list", "NULL::text", "text"},
		col{"transaction_list", "NULL::text", "text"},
	), "export.blocks b")

	// Data-Export's task table, all DONE: its Grafana panels read the exported height and
	// the download rate from it.
	add("block_task_pool", tname("block_task_pool"), []col{
		{"pk_id", "b.number", "bigint"},
		{"block_height", "b.number", "bigint"},
		{"certainty", "1::smallint", "smallint"},
		{"depot_updatetime", "b.exported_at", "timestamptz"},
		{"handle_item", "0::smallint", "smallint"},
		{"sync_status", "2::smallint", "smallint"},
	}, "export.blocks b")

	txJoin := "export.transactions x JOIN export.blocks b ON b.number = x.block_number"
	add(TxRawData, tname(TxRawData), append(blockCols(false),
		col{"from", hexOf("x.from_address"), "text"},
		col{"gas", "x.gas", "numeric"},
		col{"gas_price", "x.gas_price", "numeric"},
		col{"input", hexOf("x.input"), "text"},
		col{"nonce", "x.nonce", "numeric"},
		col{"to", hexOf("x.to_address"), "text"},
		col{"tx_hash", hexOf("x.hash"), "text"},
		col{"tx_index", "x.transaction_index", "integer"},
		col{"value", "x.value", "numeric"},
	), txJoin)

	logsJSON := `(SELECT coalesce(jsonb_agg(jsonb_build_object('address', ` + hexOf("l.address") +
		`, 'topics', (SELECT coalesce(jsonb_agg(` + hexOf("t") + `), '[]'::jsonb) FROM unnest(l.topics) t), 'data', ` + hexOf("l.data") +
		`, 'logIndex', l.log_index) ORDER BY l.log_index), '[]'::jsonb)::text FROM export.logs l WHERE l.block_number = x.block_number AND l.transaction_hash = x.hash)`
	add(TxReceiptRawData, tname(TxReceiptRawData), append(blockCols(false),
		col{"contract_address", hexOf("x.contract_address"), "text"},
		col{"from", hexOf("x.from_address"), "text"},
		col{"gas_used", "x.gas_used", "numeric"},
		col{"input", hexOf("x.input"), "text"},
		col{"logs", logsJSON, "text"},
		col{"logs_bloom", "NULL::text", "text"},
		col{"message", "x.revert_reason", "text"},
		col{"output", hexOf("x.output"), "text"},
		col{"receipt_proof", "NULL::text", "text"},
		col{"root", "NULL::text", "text"},
		col{"status", statusOf("x.status"), "text"},
		col{"to", hexOf("x.to_address"), "text"},
		col{"tx_hash", hexOf("x.hash"), "text"},
		col{"tx_index", "x.transaction_index", "integer"},
		col{"tx_proof", "NULL::text", "text"},
	), txJoin)

	// Registered contracts: name, ABI MD5 (Data-Export's abi_hash), ABI and binary.
	var infos, hashes []string
	for _, k := range contracts {
		sum := md5.Sum(k.ABI)
		infos = append(infos, fmt.Sprintf("(%s, %s, %s, %s)", literal(k.Name), literal(hex.EncodeToString(sum[:])), literal(string(k.ABI)), literal(hex.EncodeToString(k.Bin))))
		hashes = append(hashes, fmt.Sprintf("(%s, %s)", literal(k.Name), literal(hex.EncodeToString(sum[:]))))
	}
	contractInfo := "(SELECT NULL::text, NULL::text, NULL::text, NULL::text WHERE false)"
	contractHash := "(SELECT NULL::text, NULL::text WHERE false)"
	if len(infos) > 0 {
		contractInfo = "(VALUES " + strings.Join(infos, ", ") + ")"
		contractHash = "(VALUES " + strings.Join(hashes, ", ") + ")"
	}
	add(ContractInfo, tname(ContractInfo), []col{
		{"abi_hash", "c.abi_hash", "text"},
		{"contract_abi", "c.contract_abi", "text"},
		{"contract_binary", "c.contract_binary", "text"},
		{"contract_name", "c.contract_name", "text"},
		{"depot_updatetime", "r.registered_at", "timestamptz"},
		{"version", "NULL::smallint", "smallint"},
	}, contractInfo+" AS c(contract_name, abi_hash, contract_abi, contract_binary) LEFT JOIN export.contracts r ON r.name = c.contract_name")

	add(DeployedAccountInfo, tname(DeployedAccountInfo), []col{
		{"abi_hash", "c.abi_hash", "text"},
		{"block_height", "d.block_number", "bigint"},
		{"block_time_stamp", "b.time", "timestamptz"},
		{"contract_address", hexOf("d.address"), "text"},
		{"contract_name", "d.contract", "text"},
		{"depot_updatetime", "d.recorded_at", "timestamptz"},
	}, "export.deployments d JOIN export.blocks b ON b.number = d.block_number LEFT JOIN "+contractHash+
		" AS c(contract_name, abi_hash) ON c.contract_name = d.contract WHERE d.learned")

	// One view per typed table, and block_tx_detail_info over the method tables.
	var detail []string
	for _, k := range contracts {
		overloads := map[string]int{}
		for _, t := range k.Tables {
			if t.Kind == contract.MethodTable {
				overloads[t.Item]++
			}
		}
		seen := map[string]int{}
		for _, t := range k.Tables {
			key := fmt.Sprintf("%t %s", t.Kind == contract.EventTable, t.Item)
			from := "export." + pgx.Identifier{t.Name}.Sanitize() + " m JOIN export.blocks b ON b.number = m.block_number"
			var name, kind string
			var cols []col
			switch t.Kind {
			case contract.EventTable:
				if seen[key] > 0 {
					continue // Data-Export exports the first of overloaded events only
				}
				seen[key]++
				kind, name = Event, underline(t.Item)+"_event"
				cols = []col{
					{"block_height", "m.block_number", "bigint"},
					{"block_time_stamp", "m.block_time", "timestamptz"},
					{"contract_address", hexOf("m.contract_address"), "text"},
					{"depot_updatetime", "b.exported_at", "timestamptz"},
					{"tx_hash", hexOf("m.transaction_hash"), "text"},
				}
			default:
				kind, name = Method, underline(t.Item)
				if t.Kind == contract.MethodTable && overloads[t.Item] > 1 {
					name += fmt.Sprintf("_%d", seen[key])
				}
				seen[key]++
				name += "_method"
				cols = []col{
					{"block_height", "m.block_number", "bigint"},
					{"block_time_stamp", "m.block_time", "timestamptz"},
					{"contract_address", hexOf("m.contract_address"), "text"},
					{"depot_updatetime", "b.exported_at", "timestamptz"},
					{"method_status", statusOf("m.status"), "text"},
					{"tx_hash", hexOf("m.transaction_hash"), "text"},
				}
				detail = append(detail, fmt.Sprintf("SELECT %s AS block_hash, m.block_number AS block_height, m.block_time AS block_time_stamp, %s AS contract_name, b.exported_at AS depot_updatetime, %s AS method_name, %s AS tx_from, %s AS tx_hash, %s AS tx_to FROM %s",
					hexOf("b.hash"), literal(k.Name), literal(t.Item), hexOf("m.from_address"), hexOf("m.transaction_hash"), hexOf("m.contract_address"), from))
			}
			used := map[string]bool{}
			for _, c := range cols {
				used[c.name] = true
			}
			outputs := 0
			for _, c := range t.Columns {
				var cn string
				if c.Output {
					outputs++
					cn = fmt.Sprintf("output%d", outputs)
				} else {
					param := c.Param
					if t.Kind != contract.EventTable {
						param = stripIs(param)
					}
					cn = strings.ToLower(opts.ColumnPrefix + underline(param) + opts.ColumnSuffix)
				}
				cn = truncate(cn)
				for base, n := cn, 2; used[cn]; n++ {
					cn = truncate(fmt.Sprintf("%s_%d", base, n))
				}
				used[cn] = true
				cols = append(cols, col{cn, valueOf("m."+pgx.Identifier{c.Name}.Sanitize(), c.SQLType), c.SQLType})
			}
			add(kind, tname(strings.ToLower(k.Name)+"_"+name), cols, from)
		}
	}
	if !p.noView[BlockTxDetailInfo] {
		sel := "SELECT NULL::text AS block_hash, NULL::bigint AS block_height, NULL::timestamptz AS block_time_stamp, NULL::text AS contract_name, NULL::timestamptz AS depot_updatetime, NULL::text AS method_name, NULL::text AS tx_from, NULL::text AS tx_hash, NULL::text AS tx_to WHERE false"
		if len(detail) > 0 {
			sel = strings.Join(detail, " UNION ALL ")
		}
		cols := []col{{"block_hash", "", "text"}, {"block_height", "", "bigint"}, {"block_time_stamp", "", "timestamptz"},
			{"contract_name", "", "text"}, {"depot_updatetime", "", "timestamptz"}, {"method_name", "", "text"},
			{"tx_from", "", "text"}, {"tx_hash", "", "text"}, {"tx_to", "", "text"}}
		for i := range cols {
			cols[i].expr = "d." + cols[i].name
		}
		add(BlockTxDetailInfo, tname(BlockTxDetailInfo), cols, "("+sel+") d")
	}
	return views, checkNames(views, reg, schema)
}

// checkNames refuses two views with one name, and in schema export a view named like one of
// export's tables.
func checkNames(views []store.View, reg *contract.Registry, schema string) error {
	owner := map[string]string{}
	if schema == store.Schema {
		for _, t := range store.Tables {
			owner[t] = "export's table " + t
		}
		if reg != nil {
			for _, t := range reg.Tables() {
				owner[t.Name] = fmt.Sprintf("the typed table of %s.%s", t.Contract, t.Signature)
			}
		}
	}
	for _, v := range views {
		if other, ok := owner[v.Name]; ok {
			return fmt.Errorf("compat view %s.%s: the name is taken by %s; set -compat.schema to another schema", schema, v.Name, other)
		}
		owner[v.Name] = "another compat view"
	}
	return nil
}

// valueOf shows a typed column as Data-Export stored it: bytes as 0x hex text, arrays and
// tuples as JSON text; numbers, booleans and text as they are.
func valueOf(expr, sqlType string) string {
	switch sqlType {
	case "bytea":
		return hexOf(expr)
	case "jsonb":
		return expr + "::text"
	}
	return expr
}

// underline is Data-Export's camelCase to snake_case (hutool's toUnderlineCase): an upper-case
// letter starts a word after a lower-case letter, or after an upper-case letter or a digit
// when a lower-case letter follows it; an existing underscore is kept (so "_to" stays "_to").
// The result is lowercased, as PostgreSQL folds unquoted names.
func underline(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prev != '_' && (unicode.IsLower(prev) || nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// stripIs drops the "is" of a method input named isX (Data-Export: isActive → active).
func stripIs(s string) string {
	if len(s) > 2 && strings.HasPrefix(s, "is") && s[2] >= 'A' && s[2] <= 'Z' {
		return strings.ToLower(s[2:3]) + s[3:]
	}
	return s
}

// truncate cuts a name to PostgreSQL's 63 bytes, as PostgreSQL cuts the names in queries.
func truncate(s string) string {
	if len(s) > contract.MaxIdentLen {
		return s[:contract.MaxIdentLen]
	}
	return s
}

// literal quotes s as an SQL string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
