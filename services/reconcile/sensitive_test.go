package reconcile

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
)

// sensitiveColumns are the business columns the sensitive run marks, with their chain fields.
var sensitiveColumns = map[string]string{"payer": "from", "payee": "to", "备注": "memo"}

func markSensitive(jobsYAML string) string {
	out := jobsYAML
	for col := range sensitiveColumns {
		i := strings.Index(out, "{business: "+col+",")
		j := strings.Index(out[i:], "}")
		out = out[:i+j] + ", sensitive: true" + out[i+j:]
	}
	return out
}

func keyRing(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, id := range []string{"2026-01", "2026-06", "hmac"} {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", id, base64.StdEncoding.EncodeToString(k))
	}
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// outcome is what a result says, without the key (a sensitive key would show its hash).
type outcome struct {
	Outcome string
	Line    uint32
	Tx      string
	Fields  string
}

func outcomes(t *testing.T, r *running, run *reconcilev1.Run) []outcome {
	t.Helper()
	if run.GetState() != reconcilev1.RunState_RUN_STATE_SUCCEEDED {
		t.Fatalf("run %s: %s %s", run.GetRunId(), run.GetState(), run.GetError())
	}
	var out []outcome
	for _, x := range r.results(t, run.GetRunId(), 50) {
		var fields []string
		for _, d := range x.GetDiffs() {
			fields = append(fields, d.GetField())
		}
		out = append(out, outcome{x.GetOutcome().String(), x.GetLine(), x.GetTransactionHash(), strings.Join(fields, ",")})
	}
	return out
}

// TestSensitiveFields reconciles the same chain records and business file twice, once in
// clear and once with payer, payee and memo marked sensitive, and checks that the outcomes
// and totals are the same, that no table of the sensitive run's database and no line of its
// log holds any of those values in clear.
func TestSensitiveFields(t *testing.T) {
	chainRecs := records(60)
	bizRecs := make([]bizgen.ChainRecord, len(chainRecs))
	for i, r := range chainRecs {
		bizRecs[i] = maps.Clone(r)
	}
	// Differences in the sensitive fields, which both runs must find.
	bizRecs[7]["memo"] = "退款（已撤销）"
	bizRecs[21]["from"] = "0x00000000000000000000000000000000000000ff"
	bizRecs[33]["to"] = "0x00000000000000000000000000000000000000fe"

	type result struct {
		outcomes []outcome
		totals   string
	}
	reconcileOnce := func(t *testing.T, sensitive bool) (*env, result) {
		dir := t.TempDir()
		e := newEnv(t, "file://"+dir, "t-{yyyyMMdd}.csv")
		var logs bytes.Buffer
		if sensitive {
			y, err := os.ReadFile(e.jobs)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.jobs, []byte(markSensitive(string(y))), 0o600); err != nil {
				t.Fatal(err)
			}
			e.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
		}
		e.produce(chainRecs)
		var buf bytes.Buffer
		if _, err := bizgen.Generate(&buf, e.job(), bizRecs, plan); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "t-20251205.csv"), buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		keys := keyRing(t)
		r := e.start(func(c *Config) {
			if sensitive {
				c.CryptoKeys = keys
			}
		})
		run := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"})
		res := result{outcomes: outcomes(t, r, run), totals: fmt.Sprint(run.GetBusiness(), run.GetChain(), run.GetOutcomes())}
		r.stop()
		if sensitive {
			for _, v := range clearValues(chainRecs, bizRecs) {
				if strings.Contains(strings.ToLower(logs.String()), strings.ToLower(v)) {
					t.Errorf("the log holds the sensitive value %q", v)
				}
			}
			if logs.Len() == 0 {
				t.Error("no log captured")
			}
		}
		return e, res
	}

	_, clear := reconcileOnce(t, false)
	e, sealed := reconcileOnce(t, true)
	if diff := cmp.Diff(clear, sealed, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("outcomes and totals in clear (-) and with sensitive fields (+) differ:\n%s", diff)
	}
	found := map[string]bool{}
	for _, o := range clear.outcomes {
		for _, f := range strings.Split(o.Fields, ",") {
			found[f] = true
		}
	}
	for col := range sensitiveColumns {
		if !found[col] {
			t.Errorf("no mismatch on the sensitive column %s: the test does not exercise it", col)
		}
	}
	scanForClearValues(t, e.dsn, clearValues(chainRecs, bizRecs))
}

// clearValues are the values of the sensitive fields on either side, as they could be stored:
// addresses without 0x (any case), memos trimmed.
func clearValues(sides ...[]bizgen.ChainRecord) []string {
	set := map[string]bool{}
	for _, recs := range sides {
		for _, r := range recs {
			for _, field := range sensitiveColumns {
				v := strings.TrimSpace(r[field])
				v = strings.TrimPrefix(strings.ToLower(v), "0x")
				if v != "" {
					set[v] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// scanForClearValues reads every row of every table in schema reconcile as text and fails on
// any that holds one of values.
func scanForClearValues(t *testing.T, dsn string, values []string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'reconcile' AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("tables of schema reconcile: %v", tables)
	}
	scanned := 0
	for _, table := range tables {
		rows, err := conn.Query(t.Context(), `SELECT lower(t::text) FROM reconcile.`+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			scanned++
			for _, v := range values {
				if strings.Contains(text, v) {
					t.Errorf("table reconcile.%s holds the sensitive value %q in clear: %.300s", table, v, text)
				}
			}
		}
	}
	if scanned < 100 {
		t.Errorf("scanned only %d rows", scanned)
	}
}
