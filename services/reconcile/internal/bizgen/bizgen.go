// Package bizgen writes business files from on-chain records, with differences planted on
// purpose, and says what a correct reconciliation of that file must report: the end-to-end
// tests and `make demo` use it to know the answer before the run.
//
// Every business row is rendered from its chain record through the job's comparators
// (compare.Comparator.Render), so an untouched row compares equal whatever the comparators
// are: an amount with scale 2 is written "12.34" for chain 1234, an address case-insensitive
// is written upper case, a time in the job's format and zone. Then the plan changes some:
//
//	Changed          the amount moved beyond the tolerance          → mismatched (field = amount)
//	WithinTolerance  the amount moved, but within the tolerance     → matched
//	MissingInFile    the record's row left out                      → missing in business
//	Extra            a row whose key is on no chain record          → missing on chain
//	Duplicate        the record's row written twice                 → duplicate in business (both rows)
//	Malformed        the row written with one value too many        → malformed (a row error of the
//	                                                                  reader), and its record missing in business
//
// A duplicated key is reported as duplicate for every business row carrying it, and its chain
// record is neither matched nor missing: the matcher must agree with that, or this package
// must change with it.
package bizgen

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/format"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// ChainRecord is one on-chain record: chain field name → value as export publishes it
// (decimal integers, 0x hex), e.g. tx_hash, log_index, from, amount, block_timestamp_ms.
type ChainRecord map[string]string

// Plan says how many rows of each kind of difference to plant. The records a difference is
// planted on are picked at random from Seed; each record gets at most one.
type Plan struct {
	Changed, WithinTolerance, MissingInFile, Extra, Duplicate, Malformed int
	Seed                                                                 uint64
}

// Outcome is what a reconciliation reports for a row or record.
type Outcome string

// Outcomes.
const (
	Matched             Outcome = "matched"
	Mismatched          Outcome = "mismatched"
	MissingOnChain      Outcome = "missing_on_chain"
	MissingInBusiness   Outcome = "missing_in_business"
	DuplicateInBusiness Outcome = "duplicate_in_business"
	Malformed           Outcome = "malformed"
)

// Outcomes lists every outcome in report order.
var Outcomes = []Outcome{Matched, Mismatched, MissingOnChain, MissingInBusiness, DuplicateInBusiness, Malformed}

// Expectation is one expected result.
type Expectation struct {
	Outcome Outcome
	// Key is the canonical key (one text per job key column): what both sides turn into.
	// Empty for a malformed row.
	Key []string
	// Line is the business row (line of a text file, row of a sheet); 0 for a record that is
	// missing in business.
	Line int
	// Fields are the business columns that differ, for mismatched.
	Fields []string
}

// Totals counts rows and sums amounts (canonical decimal text in chain units, "0" without an
// amount field). Malformed rows count but have no amount.
type Totals struct {
	BusinessRows, ChainRecords  int
	BusinessAmount, ChainAmount string
}

// Expected is what a correct reconciliation of the generated file reports.
type Expected struct {
	// Rows are the expected results: business rows in file order, then records missing in
	// business in record order.
	Rows []Expectation
	// ByOutcome totals each outcome; Business totals the rows read (malformed ones counted,
	// without amount); Chain the records.
	ByOutcome        map[Outcome]*Totals
	Business, Chain  Totals
	Header           []string
	BusinessRowCount int
}

// Count returns how many expectations have the outcome.
func (e *Expected) Count(o Outcome) int {
	n := 0
	for _, r := range e.Rows {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// malformedValue is the value one too many on a malformed row; not empty, so TXT's trailing
// delimiter rule cannot take it for one, and with no delimiter in it.
const malformedValue = "planted-malformed-row"

// Generate writes a business file for the validated job j from records with the plan's
// differences planted, and returns what reconciling it must report.
func Generate(w io.Writer, j *job.Job, records []ChainRecord, plan Plan) (*Expected, error) {
	g, err := newGenerator(j, records, plan)
	if err != nil {
		return nil, err
	}
	return g.write(w)
}

type generator struct {
	j       *job.Job
	records []ChainRecord
	plan    Plan
	rng     *rand.Rand
	keys    []compare.Comparator
	fields  []compare.Comparator
	amount  int // index in fields, -1 without
	kind    map[int]Outcome
	exp     *Expected
	sums    map[*Totals]*[2]apd.Decimal // business, chain amount of each Totals
}

func newGenerator(j *job.Job, records []ChainRecord, plan Plan) (*generator, error) {
	keys, fields := j.KeyComparators(), j.FieldComparators()
	if len(j.Key) == 0 || len(keys) != len(j.Key) || len(fields) != len(j.Fields) || slices.Contains(keys, nil) || slices.Contains(fields, nil) {
		return nil, errors.New("bizgen: the job has not passed Validate")
	}
	g := &generator{j: j, records: records, plan: plan, rng: rand.New(rand.NewPCG(plan.Seed, 0x5eed)),
		keys: keys, fields: fields, amount: -1, kind: make(map[int]Outcome), sums: make(map[*Totals]*[2]apd.Decimal)}
	for i, f := range j.Fields {
		if f.Business == j.Amount && j.Amount != "" {
			g.amount = i
		}
	}
	if (plan.Changed > 0 || plan.WithinTolerance > 0) && g.amount < 0 {
		return nil, fmt.Errorf("bizgen: job %q has no amount field to change", j.Name)
	}
	if plan.WithinTolerance > 0 {
		s := j.Fields[g.amount].Spec()
		if isZero(s.Tolerance) && isZero(s.Relative) {
			return nil, fmt.Errorf("bizgen: job %q compares %s without a tolerance: nothing is within it", j.Name, j.Amount)
		}
	}
	if min(plan.Changed, plan.WithinTolerance, plan.MissingInFile, plan.Extra, plan.Duplicate, plan.Malformed) < 0 {
		return nil, fmt.Errorf("bizgen: a negative count in plan %+v", plan)
	}
	planted := plan.Changed + plan.WithinTolerance + plan.MissingInFile + plan.Duplicate + plan.Malformed
	if planted > len(records) {
		return nil, fmt.Errorf("bizgen: the plan changes %d records, there are %d", planted, len(records))
	}
	if plan.Extra > 0 && len(records) == 0 {
		return nil, errors.New("bizgen: extra rows are made from a record; there are none")
	}
	picks := g.rng.Perm(len(records))[:planted]
	for _, c := range []struct {
		n int
		o Outcome
	}{
		{plan.Changed, Mismatched}, {plan.WithinTolerance, Matched}, {plan.MissingInFile, MissingInBusiness},
		{plan.Duplicate, DuplicateInBusiness}, {plan.Malformed, Malformed},
	} {
		for range c.n {
			g.kind[picks[0]] = c.o
			picks = picks[1:]
		}
	}
	return g, nil
}

func isZero(s string) bool {
	if s == "" {
		return true
	}
	d, err := compare.ParseDecimal(s)
	return err != nil || d.IsZero()
}

// row is one business row to write.
type row struct {
	values  []string
	exp     Expectation
	chain   *apd.Decimal // chain amount for the totals of this outcome; nil if no record
	counted bool         // the chain record is counted on this row's outcome
}

func (g *generator) write(w io.Writer) (*Expected, error) {
	header := g.j.Columns()
	g.exp = &Expected{ByOutcome: make(map[Outcome]*Totals), Header: header}
	for _, o := range Outcomes {
		g.exp.ByOutcome[o] = &Totals{}
	}
	var rows []row
	var missing []row
	for i, rec := range g.records {
		base, err := g.render(rec)
		if err != nil {
			return nil, fmt.Errorf("bizgen: record %d: %w", i, err)
		}
		key, err := g.chainKey(rec)
		if err != nil {
			return nil, fmt.Errorf("bizgen: record %d: %w", i, err)
		}
		chainAmt, err := g.chainAmount(rec)
		if err != nil {
			return nil, fmt.Errorf("bizgen: record %d: %w", i, err)
		}
		switch g.kind[i] {
		case "":
			rows = append(rows, row{values: base, exp: Expectation{Outcome: Matched, Key: key}, chain: chainAmt, counted: true})
		case Matched: // within tolerance
			v, err := g.shiftAmount(rec, false)
			if err != nil {
				return nil, err
			}
			base[len(g.keys)+g.amount] = v
			rows = append(rows, row{values: base, exp: Expectation{Outcome: Matched, Key: key}, chain: chainAmt, counted: true})
		case Mismatched:
			v, err := g.shiftAmount(rec, true)
			if err != nil {
				return nil, err
			}
			base[len(g.keys)+g.amount] = v
			rows = append(rows, row{values: base, exp: Expectation{Outcome: Mismatched, Key: key, Fields: []string{g.j.Amount}}, chain: chainAmt, counted: true})
		case MissingInBusiness:
			missing = append(missing, row{exp: Expectation{Outcome: MissingInBusiness, Key: key}, chain: chainAmt, counted: true})
		case DuplicateInBusiness:
			rows = append(rows,
				row{values: base, exp: Expectation{Outcome: DuplicateInBusiness, Key: key}, chain: chainAmt, counted: true},
				row{values: slices.Clone(base), exp: Expectation{Outcome: DuplicateInBusiness, Key: key}})
		case Malformed:
			rows = append(rows, row{values: append(base, malformedValue), exp: Expectation{Outcome: Malformed}})
			missing = append(missing, row{exp: Expectation{Outcome: MissingInBusiness, Key: key}, chain: chainAmt, counted: true})
		}
	}
	for n := range g.plan.Extra {
		r, err := g.extra(n)
		if err != nil {
			return nil, err
		}
		at := g.rng.IntN(len(rows) + 1)
		rows = slices.Insert(rows, at, r)
	}
	if err := g.writeRows(w, header, rows); err != nil {
		return nil, err
	}
	for _, r := range append(rows, missing...) {
		if err := g.account(r); err != nil {
			return nil, err
		}
		g.exp.Rows = append(g.exp.Rows, r.exp)
	}
	g.exp.BusinessRowCount = len(rows)
	totals := []*Totals{&g.exp.Business, &g.exp.Chain}
	for _, o := range Outcomes {
		totals = append(totals, g.exp.ByOutcome[o])
	}
	for _, t := range totals {
		s := g.sum(t)
		t.BusinessAmount, t.ChainAmount = text(&s[0]), text(&s[1])
	}
	return g.exp, nil
}

func (g *generator) sum(t *Totals) *[2]apd.Decimal {
	s, ok := g.sums[t]
	if !ok {
		s = new([2]apd.Decimal)
		g.sums[t] = s
	}
	return s
}

func text(d *apd.Decimal) string {
	var r apd.Decimal
	r.Reduce(d)
	if r.IsZero() {
		return "0"
	}
	return r.Text('f')
}

// account adds a row to the totals.
func (g *generator) account(r row) error {
	t := g.exp.ByOutcome[r.exp.Outcome]
	if r.values != nil {
		t.BusinessRows++
		g.exp.Business.BusinessRows++
		if r.exp.Outcome != Malformed && g.amount >= 0 {
			v := r.values[len(g.keys)+g.amount]
			b, err := g.fields[g.amount].Business(v)
			if err != nil {
				return fmt.Errorf("bizgen: amount %q: %w", v, err)
			}
			d, err := compare.ParseDecimal(b)
			if err != nil {
				return err
			}
			if err := add(&g.sum(t)[0], d); err != nil {
				return err
			}
			if err := add(&g.sum(&g.exp.Business)[0], d); err != nil {
				return err
			}
		}
	}
	if r.counted {
		t.ChainRecords++
		g.exp.Chain.ChainRecords++
		if r.chain != nil {
			if err := add(&g.sum(t)[1], r.chain); err != nil {
				return err
			}
			if err := add(&g.sum(&g.exp.Chain)[1], r.chain); err != nil {
				return err
			}
		}
	}
	return nil
}

func add(sum, d *apd.Decimal) error {
	_, err := apd.BaseContext.Add(sum, sum, d)
	return err
}

// render writes a record's business row: key columns, then fields.
func (g *generator) render(rec ChainRecord) ([]string, error) {
	out := make([]string, 0, len(g.keys)+len(g.fields))
	for i, m := range g.j.Key {
		v, err := g.value(rec, m.Chain, g.keys[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	for i, f := range g.j.Fields {
		v, err := g.value(rec, f.Chain, g.fields[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (g *generator) value(rec ChainRecord, field string, c compare.Comparator) (string, error) {
	v, ok := rec[field]
	if !ok {
		return "", fmt.Errorf("no chain field %q", field)
	}
	b, err := c.Render(v)
	if err != nil {
		return "", fmt.Errorf("chain field %q: %w", field, err)
	}
	return b, nil
}

func (g *generator) chainKey(rec ChainRecord) ([]string, error) {
	key := make([]string, len(g.keys))
	for i, m := range g.j.Key {
		v, err := g.keys[i].Chain(rec[m.Chain])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", m.Chain, err)
		}
		key[i] = v
	}
	return key, nil
}

func (g *generator) chainAmount(rec ChainRecord) (*apd.Decimal, error) {
	if g.amount < 0 {
		return nil, nil
	}
	f := g.j.Fields[g.amount]
	c, err := g.fields[g.amount].Chain(rec[f.Chain])
	if err != nil {
		return nil, fmt.Errorf("amount %q: %w", f.Chain, err)
	}
	return compare.ParseDecimal(c)
}

// shiftAmount renders the record's amount moved by more than the tolerance (beyond) or by
// half of it.
func (g *generator) shiftAmount(rec ChainRecord, beyond bool) (string, error) {
	f := g.j.Fields[g.amount]
	s := f.Spec()
	c, err := compare.ParseDecimal(rec[f.Chain])
	if err != nil {
		return "", fmt.Errorf("bizgen: amount %q: %w", rec[f.Chain], err)
	}
	// The tolerance in chain units: max(tolerance × 10^scale, relative × |chain|).
	tol := apd.New(0, 0)
	if !isZero(s.Tolerance) {
		t, _ := compare.ParseDecimal(s.Tolerance)
		t.Exponent += s.Scale
		tol = t
	}
	if !isZero(s.Relative) {
		r, _ := compare.ParseDecimal(s.Relative)
		var rel apd.Decimal
		if _, err := apd.BaseContext.Mul(&rel, r, new(apd.Decimal).Abs(c)); err != nil {
			return "", err
		}
		if rel.Cmp(tol) > 0 {
			tol = &rel
		}
	}
	var delta apd.Decimal
	if beyond {
		// twice the tolerance and one unit more: never within it, whatever the rounding.
		if _, err := apd.BaseContext.Add(&delta, tol, tol); err != nil {
			return "", err
		}
		if _, err := apd.BaseContext.Add(&delta, &delta, apd.New(1, 0)); err != nil {
			return "", err
		}
	} else if _, err := apd.BaseContext.Mul(&delta, tol, apd.New(5, -1)); err != nil { // half of it
		return "", err
	}
	var moved apd.Decimal
	if _, err := apd.BaseContext.Add(&moved, c, &delta); err != nil {
		return "", err
	}
	return g.fields[g.amount].Render(text(&moved))
}

// extra makes the n-th business row whose key is on no chain record, from a random record.
func (g *generator) extra(n int) (row, error) {
	rec := g.records[g.rng.IntN(len(g.records))]
	values, err := g.render(rec)
	if err != nil {
		return row{}, err
	}
	m := g.j.Key[0]
	fresh, err := freshKey(g.keys[0], rec[m.Chain], n)
	if err != nil {
		return row{}, fmt.Errorf("bizgen: extra row key %q: %w", m.Business, err)
	}
	values[0] = fresh
	key := make([]string, len(g.keys))
	for i := range g.keys {
		if key[i], err = g.keys[i].Business(values[i]); err != nil {
			return row{}, err
		}
	}
	return row{values: values, exp: Expectation{Outcome: MissingOnChain, Key: key}}, nil
}

// freshKey returns a key value of the same kind as like that no chain record has: hashes and
// addresses are derived from a hash of the row number, numbers are made very large.
func freshKey(c compare.Comparator, like string, n int) (string, error) {
	sum := sha256.Sum256([]byte("bizgen extra row " + strconv.Itoa(n)))
	switch c.Spec().Kind {
	case compare.Hex:
		size := max((len(strings.TrimPrefix(like, "0x")))/2, 1)
		return "0x" + hex.EncodeToString(sum[:min(size, len(sum))]), nil
	case compare.Address:
		return "0x" + hex.EncodeToString(sum[:20]), nil
	case compare.Numeric:
		return fmt.Sprintf("9%018d", n), nil
	case compare.Enum:
		return "", errors.New("an enum key cannot be invented")
	}
	if strings.HasPrefix(like, "0x") {
		size := max((len(like)-2)/2, 1)
		return "0x" + hex.EncodeToString(sum[:min(size, len(sum))]), nil
	}
	return "extra-" + hex.EncodeToString(sum[:8]), nil
}

// writeRows writes the file and sets each row's line.
func (g *generator) writeRows(w io.Writer, header []string, rows []row) error {
	o := format.OptionsOf(g.j)
	first := 1 // the line of the first row
	switch o.Format {
	case job.FormatCSV, job.FormatTXT:
		if !o.NoHeader {
			first = 2
		}
	case job.FormatJSON:
		first = 2 // after "["
	case job.FormatXLSX:
		first = max(o.HeaderRow, 1) + 1
	}
	fw, err := format.NewWriter(w, o, header)
	if err != nil {
		return fmt.Errorf("bizgen: %w", err)
	}
	for i := range rows {
		rows[i].exp.Line = first + i
		if err := fw.Write(rows[i].values); err != nil {
			return fmt.Errorf("bizgen: write row %d: %w", i, err)
		}
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("bizgen: %w", err)
	}
	return nil
}

// SampleRecords makes n plausible Transfer records (tx_hash, log_index, from, to, amount,
// block_number, block_timestamp_ms) from seed, for tests that have no chain at hand.
func SampleRecords(n int, seed uint64) []ChainRecord {
	rng := rand.New(rand.NewPCG(seed, 0xc4a1))
	addr := func() string {
		b := make([]byte, 20)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return "0x" + hex.EncodeToString(b)
	}
	accounts := []string{addr(), addr(), addr(), addr(), addr()}
	out := make([]ChainRecord, n)
	ts := int64(1764864000000) // 2025-12-05 00:00 +08:00
	for i := range out {
		h := sha256.Sum256([]byte(fmt.Sprintf("tx %d %d", seed, i)))
		ts += int64(rng.IntN(60_000))
		amount := strconv.FormatUint(rng.Uint64N(1_000_000_000)+1, 10)
		if i%97 == 0 {
			amount = "340282366920938463463374607431768211457" // beyond 2^64
		}
		out[i] = ChainRecord{
			"tx_hash": "0x" + hex.EncodeToString(h[:]), "log_index": "0",
			"from": accounts[rng.IntN(len(accounts))], "to": accounts[rng.IntN(len(accounts))],
			"amount": amount, "block_number": strconv.Itoa(100 + i), "block_timestamp_ms": strconv.FormatInt(ts, 10),
		}
	}
	return out
}
