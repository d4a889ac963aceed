package store

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestCopyResultsRoundTrip writes results in the binary COPY rows CopyResults encodes itself
// and reads them back through PostgreSQL: every column as written, amounts of every shape
// (zero, fractions below 10^-4, groups of zeros inside, 78 digits, negative) as the same
// decimal text, NULLs where a result has no value.
func TestCopyResultsRoundTrip(t *testing.T) {
	st, err := Open(t.Context(), pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	amounts := []string{"0", "-0", "1", "-1", "0.5", "0.00005", "-0.0001", "12345.6", "10000", "100000000", "9999.9999",
		"1000000000000.000000000001", "-31415926535.8979323846",
		"115792089237316195423570985008687907853269984665640564039457584007913129639935"}
	var rows []ResultRow
	for i, a := range amounts {
		a := a
		r := ResultRow{ID: int64(i + 1), Outcome: Matched, Keys: []string{"0xab", strings.Repeat("键", i)}, Line: int32(i + 2), BusinessRow: true,
			TxHash: "0x" + strings.Repeat("c", 64), LogIndex: int32(i), BlockNumber: int64(1) << 40, ChainRecords: 1, BusinessAmount: &a}
		if i%2 == 1 {
			r.ChainAmount = &a
		}
		rows = append(rows, r)
	}
	rows = append(rows,
		ResultRow{ID: 100, Outcome: Mismatched, Keys: []string{"k"}, Line: 100, BusinessRow: true, TxHash: "0x01",
			Diff: map[string]map[string]string{"金额": {"business": "1.00", "chain": "2"}, "memo": {"business": "a\"b", "chain": ""}}},
		ResultRow{ID: 101, Outcome: Malformed, Line: 101, BusinessRow: true, Error: "t.csv:101: column 金额: not a number"},
		ResultRow{ID: IDsAfterLines + 1, Outcome: MissingInBusiness, Keys: []string{}, TxHash: "0x02", LogIndex: 3, BlockNumber: 9, ChainRecords: 1})
	tx, err := st.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	n, err := CopyResults(t.Context(), tx, 7, func() (*ResultRow, bool) {
		if i == len(rows) {
			return nil, false
		}
		i++
		return &rows[i-1], true
	})
	if err != nil || n != int64(len(rows)) {
		t.Fatalf("CopyResults: %d rows, %v", n, err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := st.Results(t.Context(), 7, ResultFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var want []Result
	for _, r := range rows {
		w := Result{ID: r.ID, Outcome: r.Outcome, Key: r.Keys, BusinessAmount: decimalText(r.BusinessAmount), ChainAmount: decimalText(r.ChainAmount)}
		if r.BusinessRow {
			w.Line = &r.Line
		}
		if r.TxHash != "" {
			w.TxHash, w.LogIndex, w.BlockNumber = &r.TxHash, &r.LogIndex, &r.BlockNumber
		}
		if r.Error != "" {
			w.Error = &r.Error
		}
		w.Diff = r.Diff
		want = append(want, w)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results read back (-written +read):\n%s", diff)
	}
	var flags []bool
	var records []int32
	if err := st.Pool.QueryRow(t.Context(), `SELECT array_agg(business_row ORDER BY id), array_agg(chain_records ORDER BY id) FROM reconcile.results WHERE run_id = 7`).Scan(&flags, &records); err != nil {
		t.Fatal(err)
	}
	for k, r := range rows {
		if flags[k] != r.BusinessRow || records[k] != r.ChainRecords {
			t.Errorf("result %d: business_row %v chain_records %d, want %v %d", r.ID, flags[k], records[k], r.BusinessRow, r.ChainRecords)
		}
	}
	if !slices.Equal(flags[:2], []bool{true, true}) {
		t.Fatal("not a test of business rows")
	}

	// The totals counted while writing are those PostgreSQL sums from the results.
	var tally Tally
	for k := range rows {
		tally.Add(&rows[k])
	}
	counted, err := tally.Totals()
	if err != nil {
		t.Fatal(err)
	}
	rtx, err := st.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rtx.Rollback(t.Context()) }()
	summed, err := ComputeTotals(t.Context(), rtx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(summed, counted); diff != "" {
		t.Errorf("totals counted while writing differ from those summed in SQL (-SQL +counted):\n%s", diff)
	}
	if counted.Business.BusinessAmount == "0" || counted.ByOutcome[Matched].ChainAmount == "0" {
		t.Fatalf("no amounts summed: %+v", counted)
	}
}

// TestTallyOverflowsIntoDecimals: sums past an int64 stay exact.
func TestTallyOverflowsIntoDecimals(t *testing.T) {
	var tally Tally
	for _, a := range []string{"9223372036854775807", "9223372036854775807", "1", "-0.5"} {
		tally.Add(&ResultRow{Outcome: Matched, BusinessRow: true, BusinessAmount: &a})
	}
	got, err := tally.Totals()
	if err != nil {
		t.Fatal(err)
	}
	if want := "18446744073709551614.5"; got.Business.BusinessAmount != want || got.ByOutcome[Matched].BusinessAmount != want {
		t.Errorf("sum %s / %s, want %s", got.Business.BusinessAmount, got.ByOutcome[Matched].BusinessAmount, want)
	}
}

// decimalText is how PostgreSQL prints the amount written: the same text, "-0" as "0".
func decimalText(s *string) *string {
	if s == nil {
		return nil
	}
	if *s == "-0" {
		z := "0"
		return &z
	}
	return s
}
