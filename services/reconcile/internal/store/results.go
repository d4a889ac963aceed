package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/bcosdata/bcosdata/libs/postgres/pgcopy"

	"github.com/cockroachdb/apd/v3"

	"github.com/jackc/pgx/v5"
)

// ResultRow is a result as a run writes it (Result is one as it is read). A business row's
// result has a line (BusinessRow), a chain record's or a matched one's a transaction hash; the
// others are NULL.
type ResultRow struct {
	ID          int64
	Outcome     string
	Keys        []string // canonical key texts; nil for a malformed row
	Line        int32
	BusinessRow bool
	TxHash      string // "" for none
	LogIndex    int32
	BlockNumber int64
	// Diff is, per field that differs, its business and chain texts ("business", "chain").
	Diff           map[string]map[string]string
	Error          string
	ChainRecords   int32
	BusinessAmount *string
	ChainAmount    *string
}

// IDsAfterLines is where the ids of results of chain records no business row carries start:
// past any line number (an integer). A business row's result has its line as id.
const IDsAfterLines int64 = 2147483648

// resultCopyColumns are the columns of reconcile.results CopyResults writes, in its order.
const resultCopyColumns = `run_id, id, ` + resultColumns

// CopyResults writes results (next returns false at the end) with COPY, in binary rows
// encoded directly (pgcopy): pgx's generic encoding of a million results' keys and amounts
// took seconds.
func CopyResults(ctx context.Context, tx pgx.Tx, run int64, next func() (*ResultRow, bool)) (int64, error) {
	src := pgcopy.NewStream(func(w *pgcopy.Rows) (bool, error) {
		row, ok := next()
		if !ok {
			return false, nil
		}
		return true, encodeResult(w, run, row)
	})
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, src, `COPY reconcile.results (`+resultCopyColumns+`) FROM STDIN (FORMAT binary)`)
	if err != nil {
		return tag.RowsAffected(), fmt.Errorf("write results of run %d: %w", run, err)
	}
	return tag.RowsAffected(), nil
}

// encodeResult appends a result in the order of resultCopyColumns.
func encodeResult(w *pgcopy.Rows, run int64, row *ResultRow) error {
	w.Tuple(14)
	w.Int8(run)
	w.Int8(row.ID)
	w.Text(row.Outcome)
	if row.Keys != nil {
		w.TextArray(row.Keys)
	} else {
		w.Null()
	}
	if row.BusinessRow {
		w.Int4(row.Line)
	} else {
		w.Null()
	}
	if row.TxHash != "" {
		w.Text(row.TxHash)
		w.Int4(row.LogIndex)
		w.Int8(row.BlockNumber)
	} else {
		w.Null()
		w.Null()
		w.Null()
	}
	if row.Diff != nil {
		js, err := json.Marshal(row.Diff)
		if err != nil {
			return fmt.Errorf("result %d: %w", row.ID, err)
		}
		w.JSONB(js)
	} else {
		w.Null()
	}
	if row.Error != "" {
		w.Text(row.Error)
	} else {
		w.Null()
	}
	w.Bool(row.BusinessRow)
	w.Int4(row.ChainRecords)
	for _, a := range []*string{row.BusinessAmount, row.ChainAmount} {
		if a == nil {
			w.Null()
			continue
		}
		if err := w.Numeric(*a); err != nil {
			return fmt.Errorf("result %d: %w", row.ID, err)
		}
	}
	return nil
}

// Tally adds up results as they are written, to the totals ComputeTotals would read back from
// them (a million results summed again in SQL took a second at the end of a run).
type Tally struct {
	rows, records map[string]int64
	biz, chain    map[string]*decimalSum
	err           error
}

// Add counts one result.
func (t *Tally) Add(r *ResultRow) {
	if t.rows == nil {
		t.rows, t.records = map[string]int64{}, map[string]int64{}
		t.biz, t.chain = map[string]*decimalSum{}, map[string]*decimalSum{}
	}
	if r.BusinessRow {
		t.rows[r.Outcome]++
	}
	t.records[r.Outcome] += int64(r.ChainRecords)
	for _, a := range []struct {
		sums map[string]*decimalSum
		v    *string
	}{{t.biz, r.BusinessAmount}, {t.chain, r.ChainAmount}} {
		if a.v == nil {
			continue
		}
		s := a.sums[r.Outcome]
		if s == nil {
			s = &decimalSum{}
			a.sums[r.Outcome] = s
		}
		if err := s.add(*a.v); err != nil && t.err == nil {
			t.err = fmt.Errorf("result %d: %w", r.ID, err)
		}
	}
}

// Totals returns the totals of the results added.
func (t *Tally) Totals() (RunTotals, error) {
	out := RunTotals{ByOutcome: make(map[string]Totals)}
	var biz, chain decimalSum
	for _, o := range Outcomes {
		v := Totals{BusinessRows: t.rows[o], ChainRecords: t.records[o], BusinessAmount: "0", ChainAmount: "0"}
		if s := t.biz[o]; s != nil {
			v.BusinessAmount = s.text()
			biz.addSum(s)
		}
		if s := t.chain[o]; s != nil {
			v.ChainAmount = s.text()
			chain.addSum(s)
		}
		out.ByOutcome[o] = v
		out.Business.BusinessRows += v.BusinessRows
		out.Chain.ChainRecords += v.ChainRecords
	}
	out.Business.BusinessAmount, out.Business.ChainAmount = biz.text(), "0"
	out.Chain.ChainAmount, out.Chain.BusinessAmount = chain.text(), "0"
	return out, t.err
}

// decimalSum adds exact decimal texts: whole numbers that fit in an int64, most amounts in
// chain units, as integers, the rest as decimals.
type decimalSum struct {
	small int64
	large apd.Decimal
}

// sumContext adds without rounding: 2000 digits hold any sum of amounts.
var sumContext = apd.BaseContext.WithPrecision(2000)

func (s *decimalSum) add(v string) error {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if sum := s.small + n; (n >= 0) == (sum >= s.small) {
			s.small = sum
			return nil
		}
	}
	d, _, err := apd.NewFromString(v)
	if err != nil || d.Form != apd.Finite {
		return fmt.Errorf("amount %q: not a decimal", v)
	}
	_, err = sumContext.Add(&s.large, &s.large, d)
	return err
}

func (s *decimalSum) addSum(o *decimalSum) {
	var d apd.Decimal
	d.SetInt64(o.small)
	_, _ = sumContext.Add(&s.large, &s.large, &d)
	_, _ = sumContext.Add(&s.large, &s.large, &o.large)
}

// text is the sum as PostgreSQL's trim_scale(sum(…))::text writes it.
func (s *decimalSum) text() string {
	var d, r apd.Decimal
	d.SetInt64(s.small)
	_, _ = sumContext.Add(&d, &d, &s.large)
	r.Reduce(&d)
	if r.IsZero() {
		return "0"
	}
	return r.Text('f')
}
