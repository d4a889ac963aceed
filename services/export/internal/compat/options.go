// Package compat is export's WeBank Data-Export compatibility: the -compat dataexport views,
// which give export's tables Data-Export's table and column names (block_detail_info,
// tx_raw_data, <Contract>_<event>_event, …) so SQL and Grafana panels written for Data-Export
// keep working, and the meaning of the contracts file's Data-Export options disabledData
// (dataTypeBlackList(s)) and skipBaseColumns (ignoreBasicDataTableParam(s)) for what export
// writes. Everything that knows a Data-Export name lives here; the mapping is documented in
// the service README.
package compat

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// Data-Export's data types (DataType), as disabledData names them.
const (
	BlockDetailInfo     = "block_detail_info"
	BlockRawData        = "block_raw_data"
	BlockTxDetailInfo   = "block_tx_detail_info"
	TxRawData           = "tx_raw_data"
	TxReceiptRawData    = "tx_receipt_raw_data"
	DeployedAccountInfo = "deployed_account_info"
	ContractInfo        = "contract_info"
	Event               = "event"
	Method              = "method"
)

// refusedTypes are the data types export cannot leave out: their rows are what decoding and
// backfills read. Disabling them is refused at start rather than silently ignored.
var refusedTypes = map[string]string{
	BlockDetailInfo:  "export.blocks is where decoded rows get their block time and backfills their range",
	TxRawData:        "export.transactions is what calls and deployments are decoded from, at once and in backfills",
	TxReceiptRawData: "the receipt fields of export.transactions (status, output, contract address) and export.logs are what calls, deployments and events are decoded from",
}

// dataTypes are every name disabledData takes.
var dataTypes = []string{BlockDetailInfo, BlockRawData, BlockTxDetailInfo, TxRawData, TxReceiptRawData,
	DeployedAccountInfo, ContractInfo, Event, Method}

// baseColumn says what skipping one of Data-Export's base table columns does.
type baseColumn struct {
	// table and column name export's own column written NULL; empty: the column is only in
	// the view (it is NULL there).
	table, column string
	// refused is why the column cannot be skipped; empty when it can.
	refused string
}

const (
	keyColumn = "a key column"
	needTime  = "decoded rows and messages carry the block time"
	needTx    = "calls, deployments and events are decoded from it"
)

// baseColumns are Data-Export's base tables and their columns (TableSQL), with what skipping
// each does.
var baseColumns = map[string]map[string]baseColumn{
	BlockDetailInfo: {
		"pk_id": {refused: keyColumn}, "block_hash": {refused: keyColumn}, "block_height": {refused: keyColumn},
		"block_time_stamp": {refused: needTime}, "depot_updatetime": {}, "status": {},
		"tx_count": {table: "blocks", column: "tx_count"},
	},
	BlockRawData: {
		"pk_id": {refused: keyColumn}, "block_hash": {refused: keyColumn}, "block_height": {refused: keyColumn},
		"block_time_stamp": {refused: needTime}, "depot_updatetime": {},
		"parent_hash": {table: "blocks", column: "parent_hash"}, "sealer": {table: "blocks", column: "sealer"},
		"gas_used": {table: "blocks", column: "gas_used"},
		"db_hash":  {}, "gas_limit": {}, "receipts_root": {}, "state_root": {}, "transactions_root": {},
		"extra_data": {}, "logs_bloom": {}, "sealer_list": {}, "signature_list": {}, "transaction_list": {},
	},
	BlockTxDetailInfo: {
		"pk_id": {refused: keyColumn}, "block_hash": {refused: keyColumn}, "block_height": {refused: keyColumn},
		"tx_hash": {refused: keyColumn}, "block_time_stamp": {refused: needTime},
		"contract_name": {}, "depot_updatetime": {}, "method_name": {}, "tx_from": {}, "tx_to": {},
	},
	TxRawData: {
		"pk_id": {refused: keyColumn}, "block_hash": {refused: keyColumn}, "block_height": {refused: keyColumn},
		"tx_hash": {refused: keyColumn}, "tx_index": {refused: keyColumn}, "block_time_stamp": {refused: needTime},
		"from": {refused: "decoded calls carry the sender"}, "to": {refused: needTx}, "input": {refused: needTx},
		"depot_updatetime": {},
		"gas":              {table: "transactions", column: "gas"}, "gas_price": {table: "transactions", column: "gas_price"},
		"nonce": {table: "transactions", column: "nonce"}, "value": {table: "transactions", column: "value"},
	},
	TxReceiptRawData: {
		"pk_id": {refused: keyColumn}, "block_hash": {refused: keyColumn}, "block_height": {refused: keyColumn},
		"tx_hash": {refused: keyColumn}, "tx_index": {refused: keyColumn}, "block_time_stamp": {refused: needTime},
		"from": {refused: "decoded calls carry the sender"}, "to": {refused: needTx}, "input": {refused: needTx},
		"contract_address": {refused: "deployments are learned from it"}, "output": {refused: "method outputs are decoded from it"},
		"status": {refused: "decoded calls carry it"}, "logs": {refused: "events are decoded from them"},
		"depot_updatetime": {}, "logs_bloom": {}, "receipt_proof": {}, "root": {}, "tx_proof": {},
		"gas_used": {table: "transactions", column: "gas_used"}, "message": {table: "transactions", column: "revert_reason"},
	},
}

// Plan is what the contracts file's Data-Export options make export do.
type Plan struct {
	// NoEvents and NoMethods say disabledData named event or method: no typed event (method
	// and constructor) tables, no events (calls) decoded, nothing on the events (calls) topic.
	NoEvents, NoMethods bool
	// Null lists, by export table, the columns written NULL (skipBaseColumns, and the header
	// columns only block_raw_data shows when it is disabled).
	Null map[string][]string
	// noView are the Data-Export tables whose compat view is not created (disabled).
	noView map[string]bool
	// blank are the view columns shown NULL, by Data-Export table.
	blank map[string]map[string]bool
}

// NewPlan checks disabledData and skipBaseColumns and says what they do. Unknown names, and
// names export cannot honour (a table or column decoding or backfills read, a key column), are
// errors naming the option and the value.
func NewPlan(o contract.Options) (*Plan, error) {
	p := &Plan{Null: map[string][]string{}, noView: map[string]bool{}, blank: map[string]map[string]bool{}}
	null := func(table, column string) {
		if !slices.Contains(p.Null[table], column) {
			p.Null[table] = append(p.Null[table], column)
		}
	}
	for _, d := range o.DisabledData {
		if !slices.Contains(dataTypes, d) {
			return nil, fmt.Errorf("disabledData %q: unknown data type (known: %s)", d, strings.Join(dataTypes, ", "))
		}
		if why, ok := refusedTypes[d]; ok {
			return nil, fmt.Errorf("disabledData %q: refused: %s; leave it out of disabledData", d, why)
		}
		p.noView[d] = true
		switch d {
		case Event:
			p.NoEvents = true
		case Method:
			p.NoMethods = true
			p.noView[BlockTxDetailInfo] = true // it lists the method tables' rows
		case BlockRawData:
			for _, c := range []string{"parent_hash", "sealer", "gas_used"} {
				null("blocks", c)
			}
		}
	}
	for _, table := range sortedKeys(o.SkipBaseColumns) {
		cols, ok := baseColumns[table]
		if !ok {
			return nil, fmt.Errorf("skipBaseColumns %q: unknown base table (known: %s)", table, strings.Join(sortedKeys(baseColumns), ", "))
		}
		for _, name := range o.SkipBaseColumns[table] {
			c, ok := cols[name]
			if !ok {
				return nil, fmt.Errorf("skipBaseColumns %s.%s: unknown column of %s (known: %s)", table, name, table, strings.Join(sortedKeys(cols), ", "))
			}
			if c.refused != "" {
				return nil, fmt.Errorf("skipBaseColumns %s.%s: refused: %s", table, name, c.refused)
			}
			if c.table != "" {
				null(c.table, c.column)
			}
			if p.blank[table] == nil {
				p.blank[table] = map[string]bool{}
			}
			p.blank[table][name] = true
		}
	}
	for _, cols := range p.Null {
		sort.Strings(cols)
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
