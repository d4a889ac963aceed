package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

const groupJobYAML = `jobs:
  - name: orders
    source: file://DIR
    pattern: o-{yyyyMMdd}.csv
    chain: {contract: Asset, event: Transfer}
    key:
      - {business: order, chain: order}
    fields:
      - {business: memo, chain: memo}
      - {business: amount, chain: amount, compare: numeric, scale: 2, tolerance: "0.01"}
    amount: amount
    match: MATCH
    errors: {max_rows: 1}
`

// groupRecord is a chain record of an order: Transfer events whose order parameter groups
// them.
type groupRecord struct{ order, amount string }

// groupResult is what a test checks of a result.
type groupResult struct {
	Outcome        string
	Order          string
	Line           int32
	Record         int // 1-based index of the chain record, 0 for none
	Diff           map[string]map[string]string
	BusinessAmount string
	ChainAmount    string
}

// runGrouped stores the records, runs the job of the given match on the CSV and returns the
// results and the run.
func runGrouped(t *testing.T, match string, recs []groupRecord, csv string) ([]groupResult, *store.Run) {
	t.Helper()
	st, err := store.Open(t.Context(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jobs, err := job.Parse("jobs.yaml", []byte(strings.NewReplacer("DIR", dir, "MATCH", match).Replace(groupJobYAML)))
	if err != nil {
		t.Fatal(err)
	}
	j := &jobs[0]
	var out []store.Record
	for i, r := range recs {
		out = append(out, store.Record{TxHash: fmt.Sprintf("0x%064x", i+1), Kind: "event", ContractName: "Asset",
			ContractAddress: "0x00000000000000000000000000000000000000aa", Name: "Transfer", Signature: "Transfer(string,uint256,string)",
			BlockNumber: uint64(i + 1), BlockTimestampMs: 1764864000000 + uint64(i),
			Params: map[string]string{"order": r.order, "amount": r.amount, "memo": "m" + r.order}})
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
	file := filepath.Join(dir, "o.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, dir: dir, j: j}
	f.runner = New(Config{Store: st, Poll: 10 * time.Millisecond, Job: f.jobFunc(),
		CaughtUp: func(context.Context) (bool, error) { return true, nil }})
	stop := f.start(t)
	defer stop()
	r, err := f.runner.Trigger(t.Context(), j.Name, "", "file://"+file)
	if err != nil {
		t.Fatal(err)
	}
	got := waitRunWithin(t, st, r.ID, time.Minute)
	if got.State != store.StateSucceeded {
		t.Fatalf("run %s: %s", got.State, got.Error)
	}
	res, err := st.Results(t.Context(), r.ID, store.ResultFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var rows []groupResult
	for _, x := range res {
		g := groupResult{Outcome: x.Outcome, Diff: x.Diff}
		if len(x.Key) > 0 {
			g.Order = x.Key[0]
		}
		if x.Line != nil {
			g.Line = *x.Line
		}
		if x.TxHash != nil {
			fmt.Sscanf(*x.TxHash, "0x%x", &g.Record)
		}
		if x.BusinessAmount != nil {
			g.BusinessAmount = *x.BusinessAmount
		}
		if x.ChainAmount != nil {
			g.ChainAmount = *x.ChainAmount
		}
		rows = append(rows, g)
	}
	return rows, got
}

func amountDiff(business, chain string) map[string]map[string]string {
	return map[string]map[string]string{"amount": {"business": business, "chain": chain}}
}

// TestOneToMany plants a group that adds up, one within the tolerance, one that does not, one
// with an amount that is not a number, a business row without records, records without a
// business row, a key on two business rows and a malformed row.
func TestOneToMany(t *testing.T) {
	recs := []groupRecord{
		{"A", "100"}, {"A", "200"}, {"B", "500"}, {"A", "300"}, {"B", "500"}, // 1–5
		{"C", "100"}, {"C", "100"}, {"E", "700"}, {"F", "50"}, {"F", "50"}, // 6–10
		{"G", "100"}, {"G", "x"}, // 11–12
	}
	csv := "order,amount,memo\n" +
		"A,6.00,whatever\n" + // 2: 100+200+300 = 600
		"B,9.99,mB\n" + // 3: 1000 against 999, within 0.01
		"C,3.00,mC\n" + // 4: 200 against 300
		"D,1.00,mD\n" + // 5: no records
		"F,1.00,mF\n" + // 6
		"F,1.00,mF\n" + // 7: F twice
		"G,1.00,mG\n" + // 8: a record's amount is not a number
		"H,1.00\n" // 9: malformed
	got, run := runGrouped(t, job.MatchOneToMany, recs, csv)
	want := []groupResult{
		{Outcome: "matched", Order: "A", Line: 2, BusinessAmount: "600"},
		{Outcome: "matched", Order: "A", Line: 2, Record: 1, ChainAmount: "100"},
		{Outcome: "matched", Order: "A", Line: 2, Record: 2, ChainAmount: "200"},
		{Outcome: "matched", Order: "A", Line: 2, Record: 4, ChainAmount: "300"},
		{Outcome: "matched", Order: "B", Line: 3, BusinessAmount: "999"},
		{Outcome: "matched", Order: "B", Line: 3, Record: 3, ChainAmount: "500"},
		{Outcome: "matched", Order: "B", Line: 3, Record: 5, ChainAmount: "500"},
		{Outcome: "mismatched", Order: "C", Line: 4, BusinessAmount: "300", Diff: amountDiff("300", "200")},
		{Outcome: "mismatched", Order: "C", Line: 4, Record: 6, ChainAmount: "100"},
		{Outcome: "mismatched", Order: "C", Line: 4, Record: 7, ChainAmount: "100"},
		{Outcome: "missing_on_chain", Order: "D", Line: 5, BusinessAmount: "100"},
		{Outcome: "duplicate_in_business", Order: "F", Line: 6, BusinessAmount: "100"},
		{Outcome: "duplicate_in_business", Order: "F", Line: 6, Record: 9, ChainAmount: "50"},
		{Outcome: "duplicate_in_business", Order: "F", Line: 6, Record: 10, ChainAmount: "50"},
		{Outcome: "duplicate_in_business", Order: "F", Line: 7, BusinessAmount: "100"},
		{Outcome: "mismatched", Order: "G", Line: 8, BusinessAmount: "100", Diff: amountDiff("100", "")}, // no sum
		{Outcome: "mismatched", Order: "G", Line: 8, Record: 11, ChainAmount: "100"},
		{Outcome: "mismatched", Order: "G", Line: 8, Record: 12},
		{Outcome: "malformed", Line: 9},
		{Outcome: "missing_in_business", Order: "E", Record: 8, ChainAmount: "700"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	wantTotals := map[string]store.Totals{
		store.Matched:             {BusinessRows: 2, ChainRecords: 5, BusinessAmount: "1599", ChainAmount: "1600"},
		store.Mismatched:          {BusinessRows: 2, ChainRecords: 4, BusinessAmount: "400", ChainAmount: "300"},
		store.MissingOnChain:      {BusinessRows: 1, BusinessAmount: "100", ChainAmount: "0"},
		store.MissingInBusiness:   {ChainRecords: 1, BusinessAmount: "0", ChainAmount: "700"},
		store.DuplicateInBusiness: {BusinessRows: 2, ChainRecords: 2, BusinessAmount: "200", ChainAmount: "100"},
		store.DuplicateOnChain:    {BusinessAmount: "0", ChainAmount: "0"},
		store.Malformed:           {BusinessRows: 1, BusinessAmount: "0", ChainAmount: "0"},
	}
	if diff := cmp.Diff(wantTotals, run.Totals.ByOutcome); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if run.Totals.Chain.ChainRecords != int64(len(recs)) || run.Totals.Business.BusinessRows != 8 {
		t.Errorf("totals: %d records, %d rows; want %d, 8", run.Totals.Chain.ChainRecords, run.Totals.Business.BusinessRows, len(recs))
	}
}

// TestManyToOne plants business rows that add up to their record, ones within the
// tolerance, ones that do not, rows without a record, a record without rows, a key on two
// records and a malformed row.
func TestManyToOne(t *testing.T) {
	recs := []groupRecord{{"K1", "300"}, {"K2", "300"}, {"K3", "500"}, {"K5", "700"}, {"K6", "10"}, {"K6", "20"}}
	csv := "order,amount,memo\n" +
		"K1,1.00,x\n" + // 2
		"K2,1.00,x\n" + // 3
		"K1,2.00,x\n" + // 4: K1 = 300
		"K2,1.99,x\n" + // 5: K2 = 299 against 300, within 0.01
		"K3,1.00,x\n" + // 6
		"K3,1.00,x\n" + // 7: K3 = 200 against 500
		"K4,1.00,x\n" + // 8: no record
		"K6,1.00,x\n" + // 9: two records
		"K7\n" // 10: malformed
	got, run := runGrouped(t, job.MatchManyToOne, recs, csv)
	want := []groupResult{
		{Outcome: "matched", Order: "K1", Line: 2, Record: 1, BusinessAmount: "100", ChainAmount: "300"},
		{Outcome: "matched", Order: "K2", Line: 3, Record: 2, BusinessAmount: "100", ChainAmount: "300"},
		{Outcome: "matched", Order: "K1", Line: 4, Record: 1, BusinessAmount: "200"},
		{Outcome: "matched", Order: "K2", Line: 5, Record: 2, BusinessAmount: "199"},
		{Outcome: "mismatched", Order: "K3", Line: 6, Record: 3, BusinessAmount: "100", ChainAmount: "500", Diff: amountDiff("200", "500")},
		{Outcome: "mismatched", Order: "K3", Line: 7, Record: 3, BusinessAmount: "100", Diff: amountDiff("200", "500")},
		{Outcome: "missing_on_chain", Order: "K4", Line: 8, BusinessAmount: "100"},
		{Outcome: "duplicate_on_chain", Order: "K6", Line: 9, BusinessAmount: "100"},
		{Outcome: "malformed", Line: 10},
		{Outcome: "missing_in_business", Order: "K5", Record: 4, ChainAmount: "700"},
		{Outcome: "duplicate_on_chain", Order: "K6", Record: 5, ChainAmount: "10"},
		{Outcome: "duplicate_on_chain", Order: "K6", Record: 6, ChainAmount: "20"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	wantTotals := map[string]store.Totals{
		store.Matched:             {BusinessRows: 4, ChainRecords: 2, BusinessAmount: "599", ChainAmount: "600"},
		store.Mismatched:          {BusinessRows: 2, ChainRecords: 1, BusinessAmount: "200", ChainAmount: "500"},
		store.MissingOnChain:      {BusinessRows: 1, BusinessAmount: "100", ChainAmount: "0"},
		store.MissingInBusiness:   {ChainRecords: 1, BusinessAmount: "0", ChainAmount: "700"},
		store.DuplicateInBusiness: {BusinessAmount: "0", ChainAmount: "0"},
		store.DuplicateOnChain:    {BusinessRows: 1, ChainRecords: 2, BusinessAmount: "100", ChainAmount: "30"},
		store.Malformed:           {BusinessRows: 1, BusinessAmount: "0", ChainAmount: "0"},
	}
	if diff := cmp.Diff(wantTotals, run.Totals.ByOutcome); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
}
