package run

import (
	"encoding/base64"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// TestProjectionInSQLAgreesWithGo projects records with values SQL takes as they are and
// values it leaves to Go (hex amounts, white space, upper-case hex, non-ASCII text, missing
// parameters, parameters ingest sealed, filter values that are not ASCII) and checks the run's chain table holds what
// the projection in Go makes of every record.
func TestProjectionInSQLAgreesWithGo(t *testing.T) {
	st, err := store.Open(t.Context(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	recs := records(12)
	odd := []map[string]string{
		{"amount": "0x64"}, {"amount": " 12 "}, {"amount": "1,200"}, {"amount": "x"}, {"amount": "-0"},
		{"from": "  0xABCDEF0000000000000000000000000000000001"}, {"to": "0XABCDEF0000000000000000000000000000000002"},
		{"to": "not hex"}, {"memo": "\u3000Straße\u00a0"}, {"from": "0xÄ"}, {"memo": ""},
	}
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	kr, err := fieldcrypt.Parse(strings.NewReader("k1 "+key+"\nhmac "+key+"\n"), "test keys")
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Record
	for i, r := range recs {
		rec := transferRecord(r)
		if i < len(odd) {
			for k, v := range odd[i] {
				rec.Params[k] = v
			}
		}
		if i == len(recs)-2 { // parameters ingest sealed are opened in Go
			rec.Params["memo"], rec.Params["from"] = kr.Seal(rec.Params["memo"]), kr.Seal(rec.Params["from"])
		}
		if i == len(recs)-1 {
			delete(rec.Params, "memo")
		}
		out = append(out, rec)
	}
	tx, err := st.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.WriteRecords(t.Context(), tx, out); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	froms := []string{strings.ToUpper(recs[1]["from"]), "  " + recs[5]["from"] + " ", "0xÄ", recs[len(recs)-2]["from"]}
	for _, tc := range []struct {
		name    string
		filters map[string]job.StringList
	}{
		{"no filters", nil},
		{"ASCII filter", map[string]job.StringList{"from": froms[:2]}},
		{"filter undecided in SQL", map[string]job.StringList{"from": {froms[0], froms[3]}, "memo": {"工资", "货款 ", "Transfer 转账", "x"}}},
		{"filter not ASCII", map[string]job.StringList{"from": froms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob(t, t.TempDir(), "{max_rows: 1}")
			j.Chain.Filters = tc.filters
			w := window{start: math.MinInt64, end: math.MaxInt64}
			id := int64(len(tc.name)) // any run id: the table is the run's own
			tx, err := st.Pool.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(t.Context()) }()
			if err := projectChain(t.Context(), tx, j, w, id, 2, kr); err != nil {
				t.Fatal(err)
			}
			got := readChainTable(t, tx, id)
			rows, err := tx.Query(t.Context(), `SELECT `+store.RecordColumns+` FROM reconcile.records r ORDER BY block_number, log_index`)
			if err != nil {
				t.Fatal(err)
			}
			want, err := projectRows(rows, j, kr)
			if err != nil {
				t.Fatal(err)
			}
			sortChainRows(want)
			if len(want) == 0 || len(want) == len(recs) && tc.filters != nil {
				t.Fatalf("the filters keep %d of %d records: not a test of them", len(want), len(recs))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("chain rows in SQL differ from Go (-Go +SQL):\n%s", diff)
			}
		})
	}
}

func readChainTable(t *testing.T, tx pgx.Tx, id int64) []store.ChainRow {
	t.Helper()
	rows, err := tx.Query(t.Context(), `SELECT transaction_hash, log_index, block_number, key, keys, fields, raw, amount::text FROM `+store.ChainTable(id))
	if err != nil {
		t.Fatal(err)
	}
	var got []store.ChainRow
	for rows.Next() {
		var r store.ChainRow
		var key string
		if err := rows.Scan(&r.TxHash, &r.LogIndex, &r.BlockNumber, &key, &r.Keys, &r.Fields, &r.Raw, &r.Amount); err != nil {
			t.Fatal(err)
		}
		if key != strings.Join(r.Keys, store.KeySep) {
			t.Errorf("key %q is not keys %q joined", key, r.Keys)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sortChainRows(got)
	return got
}

func sortChainRows(rows []store.ChainRow) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].TxHash < rows[j].TxHash })
}
