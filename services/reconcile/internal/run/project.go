package run

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// chainColumns are the chain fields a job reads of each record (its key, fields and filters),
// each once, as columns of a query over reconcile.records.
type chainColumns struct {
	names []string
	index map[string]int
}

func columnsOf(j *job.Job) chainColumns {
	c := chainColumns{index: map[string]int{}}
	add := func(n string) {
		if _, ok := c.index[n]; !ok {
			c.index[n] = len(c.names)
			c.names = append(c.names, n)
		}
	}
	for _, m := range j.Key {
		add(m.Chain)
	}
	for _, f := range j.Fields {
		add(f.Chain)
	}
	filters := make([]string, 0, len(j.Chain.Filters))
	for n := range j.Chain.Filters {
		filters = append(filters, n)
	}
	sort.Strings(filters)
	for _, n := range filters {
		add(n)
	}
	return c
}

// chainFieldSQL is the text of a chain field of a record (alias r), NULL when the record has
// none: the record's own columns (tx_hash, log_index, block_number, block_timestamp_ms,
// address, contract, name), else a decoded parameter, else the call's from and status.
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

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// recordHead identifies a stored record.
type recordHead struct {
	txHash      string
	logIndex    int32
	blockNumber int64
}

// scanChain calls each with every stored record the job's chain side selects in window w,
// and the text of each of the columns' chain fields (nil where the record has none), as
// stored: values ingest sealed are still sealed and the job's filters are not applied. The
// records come in block and log order when ordered is set, else in any order.
func scanChain(ctx context.Context, q Querier, j *job.Job, w window, cols chainColumns, ordered bool, each func(h recordHead, vals []*string) error) error {
	kind, name := "event", j.Chain.Event
	if j.Chain.Method != "" {
		kind, name = "call", j.Chain.Method
	}
	// The record's hash is read once: a key or field naming it points at the head's.
	sel := make([]string, len(cols.names))
	hashes := make([]bool, len(cols.names))
	for i, n := range cols.names {
		hashes[i] = n == "tx_hash" || n == "transaction_hash"
		if hashes[i] {
			sel[i] = ", NULL::text"
		} else {
			sel[i] = ", " + chainFieldSQL(n)
		}
	}
	sql := `SELECT r.transaction_hash, r.log_index, r.block_number` + strings.Join(sel, "") + `
		FROM reconcile.records r
		WHERE r.kind = $1 AND r.contract_name = $2 AND (r.name = $3 OR r.signature = $3) AND r.block_timestamp_ms >= $4 AND r.block_timestamp_ms < $5`
	if ordered {
		sql += `
		ORDER BY r.block_number, r.log_index, r.transaction_hash`
	}
	rows, err := q.Query(ctx, sql, kind, j.Chain.Contract, name, w.start, w.end)
	if err != nil {
		return fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	defer rows.Close()
	// The row's texts are read raw into one string per record (a million records' columns
	// scanned one by one cost seconds of allocation and collection).
	fds := rows.FieldDescriptions()
	var h recordHead
	texts := make([]string, len(cols.names))
	vals := make([]*string, len(cols.names))
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 3+len(vals) {
			return fmt.Errorf("read chain records of job %s: %d columns, want %d", j.Name, len(raw), 3+len(vals))
		}
		li, err := rawInt(raw[1], fds[1].Format)
		if err == nil {
			h.logIndex = int32(li)
			h.blockNumber, err = rawInt(raw[2], fds[2].Format)
		}
		if err != nil {
			return fmt.Errorf("read chain records of job %s: %w", j.Name, err)
		}
		n := len(raw[0])
		for _, b := range raw[3:] {
			n += len(b)
		}
		var sb strings.Builder
		sb.Grow(n)
		sb.Write(raw[0])
		for _, b := range raw[3:] {
			sb.Write(b)
		}
		all := sb.String()
		h.txHash, all = all[:len(raw[0])], all[len(raw[0]):]
		for i, b := range raw[3:] {
			vals[i] = nil
			switch {
			case hashes[i]:
				texts[i] = h.txHash
				vals[i] = &texts[i]
			case b != nil:
				texts[i], all = all[:len(b)], all[len(b):]
				vals[i] = &texts[i]
			}
		}
		if err := each(h, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	return nil
}

// rawInt reads an integer column as the server sent it: binary int2, int4 or int8, or text.
func rawInt(b []byte, format int16) (int64, error) {
	if format == pgx.TextFormatCode {
		return strconv.ParseInt(string(b), 10, 64)
	}
	switch len(b) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 8:
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("an integer of %d bytes", len(b))
}

// readChain returns the records the job selects in the window, its filters applied,
// projected onto its key and fields as the canonical texts of its comparators: the chain side
// of a run, each counted against budget (nil: none). Values ingest sealed are opened with kr; sensitive ones are sealed again as the
// run keeps them (sealValues).
func readChain(ctx context.Context, q Querier, j *job.Job, w window, kr *fieldcrypt.Keyring, budget *rowBudget) ([]store.ChainRow, error) {
	keys, fields := j.KeyComparators(), j.FieldComparators()
	amount := amountIndex(j)
	cols := columnsOf(j)
	var out []store.ChainRow
	err := scanChain(ctx, q, j, w, cols, false, func(h recordHead, vals []*string) error {
		for i, v := range vals {
			if v == nil || !fieldcrypt.IsSealed(*v) {
				continue
			}
			if kr == nil {
				return fmt.Errorf("chain record %s/%d of job %s: %s is sealed and no key ring is configured (-crypto.keys)", h.txHash, h.logIndex, j.Name, cols.names[i])
			}
			pt, err := kr.Open(*v)
			if err != nil {
				return fmt.Errorf("chain record %s/%d of job %s: %s: %w", h.txHash, h.logIndex, j.Name, cols.names[i], err)
			}
			vals[i] = &pt
		}
		if !selected(vals, cols, j.Chain.Filters) {
			return nil
		}
		if err := budget.take(); err != nil {
			return err
		}
		row := store.ChainRow{TxHash: h.txHash, LogIndex: h.logIndex, BlockNumber: h.blockNumber}
		var canon []string
		row.Keys, row.Fields, row.Raw, canon = rowSlices(len(keys), len(fields))
		for i, m := range j.Key {
			var v string
			if p := vals[cols.index[m.Chain]]; p != nil {
				v = *p
			}
			k, err := keys[i].Chain(v)
			if err != nil {
				k = v // a chain value the comparator cannot read keeps its text: it matches nothing canonical
			}
			row.Keys[i] = k
		}
		for i, f := range j.Fields {
			p := vals[cols.index[f.Chain]]
			if p == nil {
				continue
			}
			row.Raw[i] = *p
			if t, err := fields[i].Chain(*p); err == nil {
				canon[i] = t
				row.Fields[i] = &canon[i]
				if i == amount {
					row.Amount = row.Fields[i]
				}
			}
		}
		sealValues(kr, j, row.Keys, row.Fields, row.Raw)
		out = append(out, row)
		return nil
	})
	return out, err
}

// rowSlices makes a row's key texts, field pointers, raw texts and the canonical texts the
// pointers point to in two allocations rather than one a value: a run holds a million rows.
func rowSlices(keys, fields int) (k []string, f []*string, raw, canon []string) {
	all := make([]string, keys+2*fields)
	return all[:keys:keys], make([]*string, fields), all[keys : keys+fields : keys+fields], all[keys+fields:]
}

// amountIndex is the position of the job's amount among its fields, -1 for none.
func amountIndex(j *job.Job) int {
	for i, f := range j.Fields {
		if f.Business == j.Amount && j.Amount != "" {
			return i
		}
	}
	return -1
}

// selected applies the job's filters: each named field must be one of its values (case
// ignored: addresses and hashes are compared as lowercase hex).
func selected(vals []*string, cols chainColumns, filters map[string]job.StringList) bool {
	for name, values := range filters {
		v := vals[cols.index[name]]
		if v == nil {
			return false
		}
		found := false
		for _, want := range values {
			if strings.EqualFold(strings.TrimSpace(want), *v) {
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

// Records returns every stored record the job selects (its filters applied, no window) as
// the chain fields its key and fields name, in block and log order: what a run given a file
// only compares with. Values ingest sealed are returned sealed (OpenValues opens them). bizgen
// makes business files from them.
func Records(ctx context.Context, q Querier, j *job.Job) ([]map[string]string, error) {
	cols := columnsOf(j)
	var out []map[string]string
	err := scanChain(ctx, q, j, window{start: math.MinInt64, end: math.MaxInt64}, cols, true, func(_ recordHead, vals []*string) error {
		if !selected(vals, cols, j.Chain.Filters) {
			return nil
		}
		rec := map[string]string{}
		for _, m := range j.Key {
			if v := vals[cols.index[m.Chain]]; v != nil {
				rec[m.Chain] = *v
			}
		}
		for _, f := range j.Fields {
			if v := vals[cols.index[f.Chain]]; v != nil {
				rec[f.Chain] = *v
			}
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}
