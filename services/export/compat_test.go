package export_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export"
)

// withOptions writes a contracts file: options (YAML lines) followed by the sample contracts.
func withOptions(t *testing.T, options string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Dir(samples))
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(samples)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "contracts.yaml")
	text := options + strings.ReplaceAll(string(body), "../../../../", abs+"/../../../../")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// value returns the first column of the query's single row as text ("" for NULL).
func value(t *testing.T, pool *pgxpool.Pool, q string, args ...any) string {
	t.Helper()
	var s *string
	if err := pool.QueryRow(t.Context(), `SELECT (`+q+`)::text`, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if s == nil {
		return ""
	}
	return *s
}

// metric returns a counter's or gauge's value from reg, 0 when absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestCompatViewsAnswerLikeTheNativeTables exports the simulated chain with -compat dataexport:
// first without contracts, then with the sample contracts registered (a contracts-file change:
// backfill, views created again with the typed ones), then with -compat off. The Grafana
// panel queries of Data-Export and typical SELECTs by Data-Export names give the figures of
// the native tables; the metrics move.
func TestCompatViewsAnswerLikeTheNativeTables(t *testing.T) {
	t.Parallel()
	msgs := blockMessages(t)
	want := count(t, msgs)
	e := newEnv(t, 2)
	e.produce(msgs)
	cfg := e.config("")
	cfg.Compat, cfg.CompatSchema = "dataexport", "dataexport"
	r := e.start(cfg)
	caughtUp(t, r.client, uint64(want.blocks))
	if got := value(t, e.pool, `SELECT count(*) FROM dataexport.block_tx_detail_info`); got != "0" {
		t.Errorf("block_tx_detail_info without contracts holds %s rows", got)
	}
	if got := metric(t, r.reg, "bcosdata_export_exported_height"); got != float64(want.blocks-1) {
		t.Errorf("exported_height = %v, want %d", got, want.blocks-1)
	}
	if got := metric(t, r.reg, "bcosdata_export_rows_written_total", "table", "blocks"); got != float64(want.blocks) {
		t.Errorf("rows_written_total{table=blocks} = %v, want %d", got, want.blocks)
	}
	if got := metric(t, r.reg, "bcosdata_export_rows_written_total", "table", "logs"); got != float64(want.logs) {
		t.Errorf("rows_written_total{table=logs} = %v, want %d", got, want.logs)
	}
	r.stop()

	cfg.Contracts = samples
	r = e.start(cfg)
	caughtUp(t, r.client, uint64(want.blocks))
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"bcosdata_export_backfills_total", "contract", 2},
		{"bcosdata_export_backfill_blocks_total", "contract", float64(2 * want.blocks)},
	} {
		if got := metric(t, r.reg, c.name, "reason", c.label); got != c.want {
			t.Errorf("%s{reason=%s} = %v, want %v", c.name, c.label, got, c.want)
		}
	}
	if got := metric(t, r.reg, "bcosdata_export_backfill_items_total", "contract", "Asset"); got == 0 {
		t.Error("backfill_items_total{contract=Asset} did not move")
	}
	if got := testutil.CollectAndCount(r.reg, "bcosdata_export_lag_blocks"); got != 1 {
		t.Errorf("lag_blocks series: %d, want 1", got)
	}

	checkFigures := func(t *testing.T) {
		t.Helper()
		for _, q := range []struct{ compat, native string }{
			// Data-Export's Grafana panels.
			{`SELECT max(block_height) FROM dataexport.block_task_pool WHERE sync_status = 2`, `SELECT max(number) FROM export.blocks`},
			{`SELECT sum(tx_count) FROM dataexport.block_detail_info`, `SELECT sum(tx_count) FROM export.blocks`},
			{`SELECT string_agg(h::text, ',' ORDER BY t) FROM (SELECT date_trunc('second', block_time_stamp) t, max(block_height) h FROM dataexport.block_detail_info GROUP BY 1) x`,
				`SELECT string_agg(h::text, ',' ORDER BY t) FROM (SELECT date_trunc('second', time) t, max(number) h FROM export.blocks GROUP BY 1) x`},
			{`SELECT count(*) FROM (SELECT block_height, contract_name, method_name, block_time_stamp FROM dataexport.block_tx_detail_info) x`,
				`SELECT (SELECT count(*) FROM export.asset_issue_method) + (SELECT count(*) FROM export.asset_transfer_method) + (SELECT count(*) FROM export.evidence_store)`},
			{`SELECT count(*) FROM dataexport.deployed_account_info`, `SELECT count(*) FROM export.deployments WHERE learned`},
			// Typical SELECTs by Data-Export names.
			{`SELECT count(*) FROM dataexport.tx_raw_data`, `SELECT count(*) FROM export.transactions`},
			{`SELECT count(*) FROM dataexport.tx_receipt_raw_data WHERE status = '0x0'`, `SELECT count(*) FROM export.transactions WHERE status = 0`},
			{`SELECT sum(jsonb_array_length(logs::jsonb)) FROM dataexport.tx_receipt_raw_data`, `SELECT count(*) FROM export.logs`},
			{`SELECT block_height FROM dataexport.tx_raw_data ORDER BY block_height DESC, tx_index LIMIT 1`, `SELECT max(block_number) FROM export.transactions`},
			{`SELECT block_hash FROM dataexport.block_raw_data WHERE block_height = 7`, `SELECT '0x' || encode(hash, 'hex') FROM export.blocks WHERE number = 7`},
			{`SELECT parent_hash FROM dataexport.block_raw_data WHERE block_height = 7`, `SELECT '0x' || encode(hash, 'hex') FROM export.blocks WHERE number = 6`},
			{`SELECT sum(amount) FROM dataexport.Asset_transfer_event`, `SELECT sum(amount) FROM export.asset_transfer`},
			{`SELECT count(DISTINCT "to") FROM dataexport.asset_issue_event`, `SELECT count(DISTINCT "to") FROM export.asset_issue`},
			{`SELECT count(*) FROM dataexport.asset_transfer_method WHERE method_status = '0x0'`, `SELECT count(*) FROM export.asset_transfer_method WHERE status = 0`},
			{`SELECT string_agg(doc_hash, ',' ORDER BY block_height, tx_hash) FROM dataexport.Evidence_store_method`,
				`SELECT string_agg('0x' || encode(doc_hash, 'hex'), ',' ORDER BY block_number, transaction_hash) FROM export.evidence_store`},
			{`SELECT count(*) FROM dataexport.evidence_evidence_stored_event e JOIN dataexport.tx_raw_data x USING (tx_hash)`, `SELECT count(*) FROM export.evidence_evidence_stored`},
			{`SELECT abi_hash FROM dataexport.contract_info WHERE contract_name = 'Asset'`, `SELECT '` + abiMD5(t, "Asset") + `'`},
		} {
			got, want := value(t, e.pool, q.compat), value(t, e.pool, q.native)
			if got != want || want == "" || want == "0" {
				t.Errorf("%s\n= %q, want %q (%s)", q.compat, got, want, q.native)
			}
		}
		h := value(t, e.pool, `SELECT '0x' || encode(hash, 'hex') FROM export.transactions ORDER BY block_number DESC LIMIT 1`)
		if got := value(t, e.pool, `SELECT block_height FROM dataexport.tx_raw_data WHERE tx_hash = $1`, h); got == "" {
			t.Errorf("tx_raw_data has no row with tx_hash %s", h)
		}
	}
	checkFigures(t)
	r.stop()

	t.Run("restart keeps the views", func(t *testing.T) {
		r := e.start(cfg)
		caughtUp(t, r.client, uint64(want.blocks))
		checkFigures(t)
		r.stop()
	})
	t.Run("compat off drops them", func(t *testing.T) {
		off := cfg
		off.Compat = ""
		r := e.start(off)
		caughtUp(t, r.client, uint64(want.blocks))
		if n := countRows(t, e.pool, `SELECT count(*) FROM information_schema.views WHERE table_schema = 'dataexport'`); n != 0 {
			t.Errorf("%d compat views left with -compat off", n)
		}
	})
}

func abiMD5(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../fiscosim/internal/contracts", name+".abi.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(bytes.TrimSpace(b))
	return hex.EncodeToString(sum[:])
}

// TestCompatRefusesNamesTakenInItsSchema: the default schema of the views (dataexport) holds no
// export table; in schema export, the view asset_issue_method (the method issue) would take the
// name of export's typed table of the same method, which the event Issue pushed to
// asset_issue_method: New refuses and says which flag to change.
func TestCompatRefusesNamesTakenInItsSchema(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	def := cfg
	def.Contracts, def.Compat = samples, "dataexport"
	if _, err := export.New(def, app.Deps{}); err != nil {
		t.Fatalf("New with -compat dataexport and the default -compat.schema = %v; the default must not clash", err)
	}
	cfg.Contracts, cfg.Compat, cfg.CompatSchema = samples, "dataexport", "export"
	_, err := export.New(cfg, app.Deps{})
	if err == nil || !strings.Contains(err.Error(), "export.asset_issue_method") || !strings.Contains(err.Error(), "-compat.schema") {
		t.Fatalf("New = %v, want the name asset_issue_method refused, naming -compat.schema", err)
	}
	cfg.Compat = "grafana"
	if _, err := export.New(cfg, app.Deps{}); err == nil || !strings.Contains(err.Error(), `-compat "grafana"`) {
		t.Fatalf("New with -compat grafana = %v, want a usage error naming it", err)
	}
}

// TestDataExportOptionsRejectedAtStart: unknown names, and names export cannot honour, stop
// the start naming the option and the value.
func TestDataExportOptionsRejectedAtStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ options, want string }{
		{"dataTypeBlackLists: block_task_pool\n", `disabledData "block_task_pool": unknown data type`},
		{"disabledData: [event, evnt]\n", `disabledData "evnt": unknown data type`},
		{"disabledData: [tx_raw_data]\n", `disabledData "tx_raw_data": refused`},
		{"dataTypeBlackList: block_detail_info\n", `disabledData "block_detail_info": refused`},
		{"disabledData: [tx_receipt_raw_data]\n", `disabledData "tx_receipt_raw_data": refused`},
		{"ignoreBasicDataTableParams: \"tx_raw_data.from,to\"\n", `skipBaseColumns tx_raw_data.from: refused`},
		{"skipBaseColumns: {tx_raw_data: [tx_hash]}\n", `skipBaseColumns tx_raw_data.tx_hash: refused: a key column`},
		{"skipBaseColumns: {block_raw_data: [gas_limt]}\n", `skipBaseColumns block_raw_data.gas_limt: unknown column`},
		{"skipBaseColumns: {transactions: [gas]}\n", `skipBaseColumns "transactions": unknown base table`},
		{"skipBaseColumns: {tx_receipt_raw_data: [input]}\n", `skipBaseColumns tx_receipt_raw_data.input: refused`},
	} {
		t.Run(tc.options, func(t *testing.T) {
			cfg := defaults(t)
			cfg.Contracts = withOptions(t, tc.options)
			_, err := export.New(cfg, app.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cfg.Contracts) {
				t.Fatalf("New = %v, want an error naming %s and containing %q", err, cfg.Contracts, tc.want)
			}
		})
	}
}

// TestDisabledDataAndSkippedColumns exports the chain with Data-Export's blacklist and
// ignored base columns: what they name is not written (typed tables, decoded topics, NULL
// columns) and the compat views follow.
func TestDisabledDataAndSkippedColumns(t *testing.T) {
	t.Parallel()
	msgs := blockMessages(t)
	want := count(t, msgs)
	t.Run("events, block_raw_data and columns", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.produce(msgs)
		cfg := e.config(withOptions(t, "disabledData: event,block_raw_data,contract_info\nignoreBasicDataTableParams: \"tx_raw_data.gas,value|tx_receipt_raw_data.message,logs_bloom|block_detail_info.tx_count\"\n"))
		cfg.Compat, cfg.CompatSchema = "dataexport", "de"
		r := e.start(cfg)
		st := caughtUp(t, r.client, uint64(want.blocks))
		if st.GetEvents() != 0 || st.GetCalls() == 0 {
			t.Errorf("events %d, calls %d: want no events and the calls", st.GetEvents(), st.GetCalls())
		}
		for q, n := range map[string]int{
			`SELECT count(*) FROM export.outbox WHERE topic LIKE '%.events.v1'`:                                                                                     0,
			`SELECT count(*) FROM pg_tables WHERE schemaname = 'export' AND tablename IN ('asset_transfer', 'asset_issue')`:                                         0,
			`SELECT count(*) FROM export.transactions WHERE gas IS NOT NULL OR value IS NOT NULL OR revert_reason IS NOT NULL`:                                      0,
			`SELECT count(*) FROM export.transactions WHERE gas_price IS NULL`:                                                                                      0,
			`SELECT count(*) FROM export.blocks WHERE parent_hash IS NOT NULL OR gas_used IS NOT NULL OR tx_count IS NOT NULL`:                                      0,
			`SELECT count(*) FROM export.decode_failures`:                                                                                                           0,
			`SELECT count(*) FROM de.tx_raw_data WHERE gas IS NULL AND value IS NULL AND gas_price IS NOT NULL`:                                                     want.txs,
			`SELECT count(*) FROM de.tx_receipt_raw_data WHERE message IS NULL`:                                                                                     want.txs,
			`SELECT count(*) FROM information_schema.views WHERE table_schema = 'de' AND table_name IN ('block_raw_data', 'contract_info', 'asset_transfer_event')`: 0,
			`SELECT count(*) FROM de.asset_transfer_method`:                                                                                                         countRows(t, e.pool, `SELECT count(*) FROM export.asset_transfer_method`),
			`SELECT count(*) FROM de.block_detail_info WHERE tx_count IS NULL`:                                                                                      want.blocks,
			`SELECT count(*) FROM export.deployments WHERE learned`:                                                                                                 countRows(t, e.pool, `SELECT count(*) FROM de.deployed_account_info`),
			`SELECT count(*) FROM export.asset_transfer_method WHERE memo IS NULL`:                                                                                  0,
			`SELECT count(*) FROM export.outbox WHERE topic LIKE '%.calls.v1' AND log_index = -1`:                                                                   int(st.GetCalls()),
		} {
			if got := countRows(t, e.pool, q); got != n {
				t.Errorf("%s = %d, want %d", q, got, n)
			}
		}
	})
	t.Run("methods", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 1)
		e.produce(msgs)
		cfg := e.config(withOptions(t, "dataTypeBlackLists: method\n"))
		cfg.Compat, cfg.CompatSchema = "dataexport", "de"
		r := e.start(cfg)
		st := caughtUp(t, r.client, uint64(want.blocks))
		if st.GetCalls() != 0 || st.GetEvents() == 0 {
			t.Errorf("events %d, calls %d: want the events and no calls", st.GetEvents(), st.GetCalls())
		}
		for q, n := range map[string]int{
			`SELECT count(*) FROM export.outbox WHERE topic LIKE '%.calls.v1'`:                                                                              0,
			`SELECT count(*) FROM pg_tables WHERE schemaname = 'export' AND tablename IN ('asset_transfer_method', 'asset_issue_method', 'evidence_store')`: 0,
			`SELECT count(*) FROM information_schema.views WHERE table_schema = 'de' AND table_name IN ('block_tx_detail_info', 'asset_transfer_method')`:   0,
			`SELECT count(*) FROM de.asset_transfer_event`:                                                                                                  countRows(t, e.pool, `SELECT count(*) FROM export.asset_transfer`),
			// Deployments are learned from the creation bytecode, not from decoded constructors.
			`SELECT count(*) FROM de.deployed_account_info WHERE contract_name = 'Asset'`: countRows(t, e.pool, `SELECT count(*) FROM export.deployments WHERE learned AND contract = 'Asset'`),
		} {
			if got := countRows(t, e.pool, q); got != n {
				t.Errorf("%s = %d, want %d", q, got, n)
			}
		}
		if n := countRows(t, e.pool, `SELECT count(*) FROM export.asset_transfer`); n == 0 {
			t.Error("no Transfer events with methods disabled")
		}
	})
}

// TestCryptoMismatchHaltsThePartition runs export with -crypto sm on an ECDSA chain: the first
// block halts its partition with a status naming both suites and the flag, nothing is stored,
// and the lag metric shows every block waiting.
func TestCryptoMismatchHaltsThePartition(t *testing.T) {
	t.Parallel()
	msgs := blockMessages(t)
	e := newEnv(t, 1)
	e.produce(msgs)
	cfg := e.config(samples)
	cfg.Crypto = "sm"
	r := e.start(cfg)
	st := waitStatus(t, r.client, "the partition halted", func(s *exportv1.StatusResponse) bool { return len(s.GetHaltedPartitions()) > 0 })
	h := st.GetHaltedPartitions()[0]
	for _, want := range []string{"block 0", "the block says ecdsa", "-crypto sm", "restart export with -crypto ecdsa"} {
		if !strings.Contains(h.GetError(), want) {
			t.Errorf("halt error %q does not say %q", h.GetError(), want)
		}
	}
	if h.GetOffset() != 0 || st.GetBlocks() != 0 {
		t.Errorf("halted at offset %d with %d blocks exported, want offset 0 and none", h.GetOffset(), st.GetBlocks())
	}
	await.For(t, 30*time.Second, "lag_blocks counts every block", func() error {
		if got := metric(t, r.reg, "bcosdata_export_lag_blocks"); got != float64(len(msgs)) {
			return fmt.Errorf("lag_blocks = %v, want %d", got, len(msgs))
		}
		return nil
	})
}
