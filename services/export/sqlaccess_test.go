package export_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	promclient "github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/dashboard"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
	"github.com/bcosdata/bcosdata/services/reconcile"
)

// deploySamples is the contracts file of every sample contract, which deploy/grafana is
// generated from.
const deploySamples = "../../deploy/contracts/samples.yaml"

// sqlDoc is the data teams' SQL guide; its ```sql blocks are run by TestSQLAccess.
const sqlDoc = "../../docs/sql.md"

// TestSQLAccess exports the simulated chain (every sample contract registered, -compat
// dataexport, -db.reader-role) and checks, as the reader role: it reads every table and view
// of both schemas and writes none of them; tables and views created after the grant are
// readable too; every query of docs/sql.md and every SQL panel of the generated dashboards
// runs and returns rows; and every metric the Prometheus panels query is one stash, export or
// their Kafka consumer registered.
func TestSQLAccess(t *testing.T) {
	msgs := blockMessages(t)
	want := count(t, msgs)
	e := newEnv(t, 1)
	e.produce(msgs)
	cfg := e.config(deploySamples)
	cfg.Compat = "dataexport"
	cfg.ReaderRole = readerRole(t, e.pool)
	r := e.start(cfg)
	await.For(t, 90*time.Second, fmt.Sprintf("%d blocks exported", want.blocks), func() error {
		var n int
		if err := e.pool.QueryRow(t.Context(), `SELECT blocks FROM export.progress`).Scan(&n); err != nil {
			return err
		}
		if n != want.blocks {
			return fmt.Errorf("%d blocks", n)
		}
		return nil
	})
	reader := readerConn(t, e.dsn, cfg.ReaderRole)

	t.Run("reads every table and view, writes none", func(t *testing.T) {
		rels := relations(t, e.pool, "export", "dataexport")
		views := 0
		for _, rel := range rels {
			if rel.kind == 'v' {
				views++
			}
			if _, err := reader.Exec(t.Context(), `SELECT * FROM `+rel.name+` LIMIT 1`); err != nil {
				t.Errorf("reader cannot read %s: %v", rel.name, err)
			}
		}
		if views == 0 || len(rels)-views < len(store.Tables) {
			t.Fatalf("%d relations, %d of them views: the export did not create its tables and the compat views", len(rels), views)
		}
		for _, rel := range rels {
			writes := []string{`DELETE FROM ` + rel.name, `INSERT INTO ` + rel.name + ` DEFAULT VALUES`, `TRUNCATE ` + rel.name}
			if rel.kind == 'v' {
				writes = []string{`DROP VIEW ` + rel.name}
			}
			for _, w := range writes {
				refused(t, reader, w)
			}
		}
		refused(t, reader, `CREATE TABLE export.reader_scratch (a int)`)
		refused(t, reader, `CREATE VIEW dataexport.reader_scratch AS SELECT 1`)
		refused(t, reader, `DROP TABLE export.blocks`)
		refused(t, reader, `ALTER TABLE export.transactions ADD COLUMN x int`)
		refused(t, reader, `UPDATE export.progress SET blocks = 0`)
		if got := countRows(t, e.pool, `SELECT count(*) FROM export.blocks`); got != want.blocks {
			t.Errorf("export.blocks holds %d rows after the reader's attempts, want %d", got, want.blocks)
		}
	})

	t.Run("tables and views created later are readable", func(t *testing.T) {
		// A contract registered later: its typed table and partition come from export's
		// own store code, as export's role, after the grant.
		reg := laterContract(t)
		st, err := store.Open(t.Context(), e.pool, 16)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		tx, err := st.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(t.Context())
		var issue *contract.Table
		for _, tb := range reg.Tables() {
			if _, err := tx.CreateTypedTable(t.Context(), tb); err != nil {
				t.Fatal(err)
			}
			if tb.Item == "Issue" {
				issue = tb
			}
		}
		err = tx.WriteTyped(t.Context(), []store.TypedRow{{Table: issue, BlockNumber: 3, BlockTime: time.Now(), TxHash: make([]byte, 32),
			ContractAddress: make([]byte, 20), Values: []any{"0x00000000000000000000000000000000000000aa", pgtype.Numeric{Int: big.NewInt(7), Valid: true}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), `CREATE VIEW dataexport.later_issues AS SELECT * FROM export.`+pgx.Identifier{issue.Name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, rel := range []string{"export." + issue.Name, "export." + issue.Name + "_p0", "dataexport.later_issues"} {
			var n int
			if err := reader.QueryRow(t.Context(), `SELECT count(*) FROM `+rel).Scan(&n); err != nil || n != 1 {
				t.Errorf("reader reads %d rows of %s created after the grant (%v), want 1", n, rel, err)
			}
		}
	})

	t.Run("docs/sql.md queries return rows", func(t *testing.T) {
		queries := docQueries(t)
		if len(queries) < 3 {
			t.Fatalf("%s has %d sql blocks; want the documented examples", sqlDoc, len(queries))
		}
		for _, q := range queries {
			if n := rowsOf(t, reader, q.sql); n == 0 {
				t.Errorf("%s:%d returns no row:\n%s", sqlDoc, q.line, q.sql)
			}
		}
	})

	t.Run("every dashboard SQL panel returns rows", func(t *testing.T) {
		reg := deployRegistry(t)
		fillEmpty(t, e.pool, reg)
		boards, err := dashboard.Dashboards(reg)
		if err != nil {
			t.Fatal(err)
		}
		ran := 0
		for _, d := range boards {
			for _, p := range dashboard.PanelsOf(d) {
				for _, target := range p.Targets {
					q, ok := target.(dashboard.SQLQuery)
					if !ok {
						continue
					}
					ran++
					sql := expandMacros(t, q.RawSQL)
					if n := rowsOf(t, reader, sql); n == 0 {
						t.Errorf("%s, panel %q returns no row:\n%s", *d.Title, *p.Title, sql)
					}
				}
			}
		}
		if ran == 0 {
			t.Fatal("no SQL panel")
		}
		t.Logf("%d SQL panels ran", ran)
	})

	t.Run("every Prometheus panel metric is registered", func(t *testing.T) {
		registered := r.metrics.Names()
		for n := range chainBlocks.stashMetrics.Names() {
			registered[n] = true
		}
		for n := range reconcileMetrics(t).Names() {
			registered[n] = true
		}
		for _, want := range []string{"bcosdata_export_lag_blocks", "bcosdata_stash_blocks_verified_total", "bcosdata_kafka_consumer_halted", "bcosdata_stash_source_lag_blocks",
			"bcosdata_reconcile_runs_total"} {
			if !registered[want] {
				t.Fatalf("the registries lack %s: the recorder misses collectors (%d names)", want, len(registered))
			}
		}
		boards, err := dashboard.Dashboards(nil)
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, d := range boards {
			for _, p := range dashboard.PanelsOf(d) {
				for _, target := range p.Targets {
					if _, ok := target.(dashboard.SQLQuery); ok {
						continue
					}
					expr := promExpr(t, target)
					names := metricNames(expr)
					if len(names) == 0 {
						t.Errorf("panel %q: no metric found in %q", *p.Title, expr)
					}
					for _, n := range names {
						used[n] = true
						if !registered[n] {
							t.Errorf("panel %q queries %s, which no registry holds", *p.Title, n)
						}
					}
				}
			}
		}
		t.Logf("%d metrics queried, %d registered", len(used), len(registered))
	})
}

// fillEmpty writes one row, through export's store, into each typed table the simulated
// chain left empty: methods the traffic never sends as transactions (view functions), so that
// their panels have a row to show too. The chain's own rows fill the others.
func fillEmpty(t *testing.T, pool *pgxpool.Pool, reg *contract.Registry) {
	t.Helper()
	st, err := store.Open(t.Context(), pool, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	var rows []store.TypedRow
	var filled []string
	for _, tb := range reg.Tables() {
		if countRows(t, pool, `SELECT count(*) FROM export.`+pgx.Identifier{tb.Name}.Sanitize()) > 0 {
			continue
		}
		filled = append(filled, tb.Name)
		values := make([]any, len(tb.Columns))
		for i, c := range tb.Columns {
			switch c.SQLType {
			case "numeric(78,0)":
				values[i] = pgtype.Numeric{Int: big.NewInt(int64(i + 1)), Valid: true}
			case "boolean":
				values[i] = true
			case "bytea":
				values[i] = []byte{0xab, byte(i)}
			case "jsonb":
				values[i] = []byte(`[]`)
			default:
				values[i] = "0x00000000000000000000000000000000000000cc"
			}
		}
		rows = append(rows, store.TypedRow{Table: tb, BlockNumber: 2, BlockTime: time.Now(), TxHash: []byte(tb.Name),
			ContractAddress: make([]byte, 20), From: make([]byte, 20), Values: values})
	}
	if len(rows) == 0 {
		return
	}
	tx, err := st.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if err := tx.WriteTyped(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("the chain left %d of %d typed tables empty; one row written into each: %v", len(filled), len(reg.Tables()), filled)
	if len(filled) > len(reg.Tables())/2 {
		t.Errorf("the chain filled only %d of %d typed tables: the export did not decode the sample traffic", len(reg.Tables())-len(filled), len(reg.Tables()))
	}
}

// readerRole returns a role name of this test's own (roles are cluster-wide) and drops the
// role after the test.
func readerRole(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var db string
	if err := pool.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := "reader_" + strings.ToLower(db)
	if len(role) > 63 {
		role = role[:63]
	}
	t.Cleanup(func() {
		// t.Context is cancelled when cleanups run. The database is dropped after this
		// (cleanups run last first); the role's privileges in it go with DROP OWNED.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q := pgx.Identifier{role}.Sanitize()
		if _, err := pool.Exec(ctx, `DROP OWNED BY `+q); err != nil {
			t.Logf("drop privileges of %s: %v", role, err)
		}
		if _, err := pool.Exec(ctx, `DROP ROLE IF EXISTS `+q); err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	return role
}

// readerConn is a connection acting as role (SET ROLE: privileges are checked as role's).
func readerConn(t *testing.T, dsn, role string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	if _, err := c.Exec(t.Context(), `SET ROLE `+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return c
}

type relation struct {
	name string // schema-qualified, quoted
	kind byte   // r table, p partitioned table, v view
}

func relations(t *testing.T, pool *pgxpool.Pool, schemas ...string) []relation {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v') ORDER BY 1, 2`, schemas)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (relation, error) {
		var s, n, k string
		err := r.Scan(&s, &n, &k)
		return relation{name: pgx.Identifier{s, n}.Sanitize(), kind: k[0]}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// refused runs a write as the reader and wants PostgreSQL to refuse it for lack of
// privilege (42501).
func refused(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	_, err := c.Exec(t.Context(), sql)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("reader ran %q: got %v, want a permission error (42501)", sql, err)
	}
}

// rowsOf runs a query and counts its rows, failing the test on an error.
func rowsOf(t *testing.T, c *pgx.Conn, sql string) int {
	t.Helper()
	rows, err := c.Query(t.Context(), sql)
	if err != nil {
		t.Errorf("%v:\n%s", err, sql)
		return -1
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Errorf("%v:\n%s", err, sql)
		return -1
	}
	return n
}

type docQuery struct {
	line int
	sql  string
}

// docQueries returns the ```sql blocks of docs/sql.md (blocks marked ```postgresql, the
// operators' statements, are not run).
func docQueries(t *testing.T) []docQuery {
	t.Helper()
	f, err := os.Open(sqlDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []docQuery
		cur  *docQuery
		line int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(text) == "```sql":
			cur = &docQuery{line: line + 1}
		case cur != nil && strings.TrimSpace(text) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.sql += text + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: unclosed sql block", sqlDoc, cur.line)
	}
	return out
}

var (
	timeGroupAlias = regexp.MustCompile(`\$__timeGroupAlias\(([^,()]+),\s*\$__interval\)`)
	timeFilter     = regexp.MustCompile(`\$__timeFilter\(([^()]+)\)`)
)

// expandMacros does what Grafana's PostgreSQL datasource does with the macros the panels use,
// for a range covering every block and a one-minute interval.
func expandMacros(t *testing.T, sql string) string {
	t.Helper()
	sql = timeGroupAlias.ReplaceAllString(sql, `floor(extract(epoch FROM ${1})/60)*60 AS "time"`)
	sql = timeFilter.ReplaceAllString(sql, `${1} BETWEEN '1970-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'`)
	if strings.Contains(sql, "$__") {
		t.Fatalf("a macro the test does not expand:\n%s", sql)
	}
	return sql
}

func deployRegistry(t *testing.T) *contract.Registry {
	t.Helper()
	reg, err := contract.Load(deploySamples, contract.Keccak, contract.WithReservedTables(store.Tables...))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// laterContract is Asset registered again under another name, for tables made after the
// grant.
func laterContract(t *testing.T) *contract.Registry {
	t.Helper()
	abi, err := os.ReadFile("../fiscosim/internal/contracts/Asset.abi.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/Later.abi.json", abi, 0o644); err != nil {
		t.Fatal(err)
	}
	file := dir + "/contracts.yaml"
	body := "contracts:\n  - name: Later\n    abi: Later.abi.json\n    addresses: [\"0x00000000000000000000000000000000000000bb\"]\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := contract.Load(file, contract.Keccak, contract.WithReservedTables(store.Tables...))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// promExpr returns a Prometheus target's expression.
func promExpr(t *testing.T, target variants.Dataquery) string {
	t.Helper()
	switch q := target.(type) {
	case prometheus.Dataquery:
		return q.Expr
	case *prometheus.Dataquery:
		return q.Expr
	}
	t.Fatalf("a query of type %T", target)
	return ""
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: the identifiers left
// once strings, label matchers, ranges and grouping clauses are removed, that are not
// functions (followed by "(") or keywords. Enough for the dashboards' expressions, which the
// test also requires to name at least one metric each.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, " ")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promKeywords[strings.ToLower(name)] {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // a number's exponent or suffix
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`max(bcosdata_export_lag_blocks)`, []string{"bcosdata_export_lag_blocks"}},
		{`sum by (table) (rate(bcosdata_export_rows_written_total{job="export"}[$__rate_interval]))`, []string{"bcosdata_export_rows_written_total"}},
		{`sum(bcosdata_kafka_consumer_halted) or vector(0)`, []string{"bcosdata_kafka_consumer_halted"}},
		{`count(min by (group) (a_ready) == 0) or b_total > 1e3`, []string{"a_ready", "b_total"}},
		{`rate(x[5m]) / on (instance) group_left (job) y offset 5m`, []string{"x", "y"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// reconcileMetrics builds a reconcile service (never run: nothing is reached) and returns
// what it registered, for the panels of the pipeline dashboard's Reconciliation row.
func reconcileMetrics(t *testing.T) *recorder {
	t.Helper()
	var cfg reconcile.Config
	cfg.RegisterFlags(flag.NewFlagSet("reconcile", flag.ContinueOnError))
	cfg.Kafka.Brokers, cfg.DB.URL = []string{"127.0.0.1:1"}, "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	rec := &recorder{Registry: promclient.NewRegistry()}
	if _, err := reconcile.New(cfg, app.Deps{Log: zap.NewNop(), Metrics: rec}); err != nil {
		t.Fatalf("build reconcile for its metrics: %v", err)
	}
	return rec
}
