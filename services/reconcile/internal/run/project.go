package run

import (
	"context"
	"fmt"
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

// project reads the records the job selects in the window and turns them into chain rows
// with the canonical texts of the job's comparators.
func project(ctx context.Context, tx pgx.Tx, j *job.Job, w window, kr *fieldcrypt.Keyring) ([]store.ChainRow, error) {
	kind, name := "event", j.Chain.Event
	if j.Chain.Method != "" {
		kind, name = "call", j.Chain.Method
	}
	rows, err := tx.Query(ctx, `SELECT transaction_hash, log_index, block_number, block_timestamp_ms, contract_address, contract_name, name,
		from_address, status, params FROM reconcile.records
		WHERE kind = $1 AND contract_name = $2 AND (name = $3 OR signature = $3) AND block_timestamp_ms >= $4 AND block_timestamp_ms < $5
		ORDER BY block_number, log_index, transaction_hash`, kind, j.Chain.Contract, name, w.start, w.end)
	if err != nil {
		return nil, fmt.Errorf("read chain records of job %s: %w", j.Name, err)
	}
	defer rows.Close()
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
	return out, rows.Err()
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
