package run

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// chainRecord is a stored record as a job reads it.
type chainRecord struct {
	txHash      string
	logIndex    int32
	blockNumber int64
	timeMs      int64
	address     string
	contract    string
	name        string
	from        *string
	status      *int32
	params      map[string]string
}

// field returns the value of a chain field: the record's own (tx_hash, log_index,
// block_number, block_timestamp_ms, address, contract, name), else a decoded parameter, else
// the call's from and status.
func (c *chainRecord) field(name string) (string, bool) {
	switch name {
	case "tx_hash", "transaction_hash":
		return c.txHash, true
	case "log_index":
		return strconv.Itoa(int(c.logIndex)), true
	case "block_number":
		return strconv.FormatInt(c.blockNumber, 10), true
	case "block_timestamp_ms":
		return strconv.FormatInt(c.timeMs, 10), true
	case "address", "contract_address":
		return c.address, true
	case "contract", "contract_name":
		return c.contract, true
	case "name":
		return c.name, true
	}
	if v, ok := c.params[name]; ok {
		return v, true
	}
	switch name {
	case "from":
		if c.from != nil {
			return *c.from, true
		}
	case "status":
		if c.status != nil {
			return strconv.Itoa(int(*c.status)), true
		}
	}
	return "", false
}

// projectChain fills the run's chain table with the records the job selects in the window,
// projected onto the job's fields as canonical texts: in SQL, one INSERT … SELECT, with the few
// records SQL does not decide (store.ProjectChain: sealed parameters among them) projected in
// Go; all in Go for filters SQL cannot apply (values that are not ASCII) and for jobs with
// sensitive fields (their texts are keyed hashes and sealed texts, made in Go).
func projectChain(ctx context.Context, tx pgx.Tx, j *job.Job, w window, id int64, parts int, kr *fieldcrypt.Keyring) error {
	if err := store.CreateChainTable(ctx, tx, id, parts); err != nil {
		return err
	}
	p, ok := projection(j, w)
	fix := func(rows pgx.Rows) error {
		out, err := projectRows(rows, j, kr)
		rows.Close()
		if err != nil {
			return err
		}
		for i := range out {
			sealValues(kr, j, out[i].Keys, out[i].Fields, out[i].Raw)
		}
		return store.CopyChainRows(ctx, tx, id, out)
	}
	if ok {
		return store.ProjectChain(ctx, tx, id, p, fix)
	}
	rows, err := tx.Query(ctx, `SELECT `+store.RecordColumns+` FROM reconcile.records r
		WHERE kind = $1 AND contract_name = $2 AND (name = $3 OR signature = $3) AND block_timestamp_ms >= $4 AND block_timestamp_ms < $5
		ORDER BY block_number, log_index, transaction_hash`, p.Kind, p.Contract, p.Name, w.start, w.end)
	if err != nil {
		return fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	defer rows.Close()
	if err := fix(rows); err != nil {
		return err
	}
	return store.AnalyzeChain(ctx, tx, id)
}

// projection is the job's chain side in SQL; ok is false when a filter value is not ASCII or
// the job has sensitive fields.
func projection(j *job.Job, w window) (p store.Projection, ok bool) {
	kind, name := "event", j.Chain.Event
	if j.Chain.Method != "" {
		kind, name = "call", j.Chain.Method
	}
	p = store.Projection{Selection: store.Selection{Kind: kind, Contract: j.Chain.Contract, Name: name, Start: w.start, End: w.end},
		Amount: -1, Sealed: fieldcrypt.SealedPrefix}
	if j.Sensitive() {
		return p, false
	}
	for i, m := range j.Key {
		p.Keys = append(p.Keys, store.ProjectedColumn{Value: chainFieldSQL(m.Chain), Canonical: j.KeyComparators()[i].ChainSQL})
	}
	for i, f := range j.Fields {
		p.Fields = append(p.Fields, store.ProjectedColumn{Value: chainFieldSQL(f.Chain), Canonical: j.FieldComparators()[i].ChainSQL})
		if f.Business == j.Amount && j.Amount != "" {
			p.Amount = i
		}
	}
	names := make([]string, 0, len(j.Chain.Filters))
	for n := range j.Chain.Filters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := store.ProjectedFilter{Value: chainFieldSQL(n)}
		for _, v := range j.Chain.Filters[n] {
			v = strings.TrimSpace(v)
			if !isASCII(v) {
				return p, false
			}
			f.Lower = append(f.Lower, strings.ToLower(v))
		}
		p.Filters = append(p.Filters, f)
	}
	return p, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// chainFieldSQL is chainRecord.field in SQL over reconcile.records r: the text of a chain
// field, NULL when the record has none.
func chainFieldSQL(name string) string {
	switch name {
	case "tx_hash", "transaction_hash":
		return "r.transaction_hash"
	case "log_index":
		return "r.log_index::text"
	case "block_number":
		return "r.block_number::text"
	case "block_timestamp_ms":
		return "r.block_timestamp_ms::text"
	case "address", "contract_address":
		return "r.contract_address"
	case "contract", "contract_name":
		return "r.contract_name"
	case "name":
		return "r.name"
	}
	param := "(r.params ->> '" + strings.ReplaceAll(name, "'", "''") + "')"
	switch name {
	case "from":
		return "coalesce(" + param + ", r.from_address)"
	case "status":
		return "coalesce(" + param + ", r.status::text)"
	}
	return param
}

// projectRows turns records (store.RecordColumns) the job selects into chain rows with the
// canonical texts of the job's comparators, parameters ingest sealed opened with kr.
func projectRows(rows pgx.Rows, j *job.Job, kr *fieldcrypt.Keyring) ([]store.ChainRow, error) {
	keys, fields := j.KeyComparators(), j.FieldComparators()
	amount := -1
	for i, f := range j.Fields {
		if f.Business == j.Amount && j.Amount != "" {
			amount = i
		}
	}
	var out []store.ChainRow
	for rows.Next() {
		var c chainRecord
		if err := rows.Scan(&c.txHash, &c.logIndex, &c.blockNumber, &c.timeMs, &c.address, &c.contract, &c.name, &c.from, &c.status, &c.params); err != nil {
			return nil, fmt.Errorf("read chain records of job %s: %w", j.Name, err)
		}
		if err := openParams(kr, c.params); err != nil {
			return nil, fmt.Errorf("read chain record %s/%d of job %s: %w", c.txHash, c.logIndex, j.Name, err)
		}
		if !selected(&c, j.Chain.Filters) {
			continue
		}
		row := store.ChainRow{TxHash: c.txHash, LogIndex: c.logIndex, BlockNumber: c.blockNumber,
			Keys: make([]string, len(keys)), Fields: make([]*string, len(fields)), Raw: make([]string, len(fields))}
		for i, m := range j.Key {
			v, _ := c.field(m.Chain)
			k, err := keys[i].Chain(v)
			if err != nil {
				k = v // a chain value the comparator cannot read keeps its text: it matches nothing canonical
			}
			row.Keys[i] = k
		}
		for i, f := range j.Fields {
			v, ok := c.field(f.Chain)
			row.Raw[i] = v
			if !ok {
				continue
			}
			if t, err := fields[i].Chain(v); err == nil {
				row.Fields[i] = &t
				if i == amount {
					row.Amount = &t
				}
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	return out, nil
}

// selected applies the job's filters: each named field must be one of its values (case
// ignored: addresses and hashes are compared as lowercase hex).
func selected(c *chainRecord, filters map[string]job.StringList) bool {
	for name, values := range filters {
		v, ok := c.field(name)
		if !ok {
			return false
		}
		found := false
		for _, want := range values {
			if strings.EqualFold(strings.TrimSpace(want), v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Records returns every stored record the job selects (its filters applied, no window) as
// the chain fields its key and fields name, in block and log order: what a run given a file
// only compares with. bizgen makes business files from them.
func Records(ctx context.Context, q Querier, j *job.Job) ([]map[string]string, error) {
	kind, name := "event", j.Chain.Event
	if j.Chain.Method != "" {
		kind, name = "call", j.Chain.Method
	}
	rows, err := q.Query(ctx, `SELECT transaction_hash, log_index, block_number, block_timestamp_ms, contract_address, contract_name, name,
		from_address, status, params FROM reconcile.records
		WHERE kind = $1 AND contract_name = $2 AND (name = $3 OR signature = $3)
		ORDER BY block_number, log_index, transaction_hash`, kind, j.Chain.Contract, name)
	if err != nil {
		return nil, fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		var c chainRecord
		if err := rows.Scan(&c.txHash, &c.logIndex, &c.blockNumber, &c.timeMs, &c.address, &c.contract, &c.name, &c.from, &c.status, &c.params); err != nil {
			return nil, fmt.Errorf("read chain records of job %s: %w", j.Name, err)
		}
		if !selected(&c, j.Chain.Filters) {
			continue
		}
		rec := map[string]string{}
		for _, m := range j.Key {
			if v, ok := c.field(m.Chain); ok {
				rec[m.Chain] = v
			}
		}
		for _, f := range j.Fields {
			if v, ok := c.field(f.Chain); ok {
				rec[f.Chain] = v
			}
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	return out, nil
}
