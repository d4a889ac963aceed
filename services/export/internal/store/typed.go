package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// Common column names of the typed tables, before the table's own columns.
const (
	ColBlockNumber     = "block_number"
	ColBlockTime       = "block_time"
	ColTxHash          = "transaction_hash"
	ColTxIndex         = "transaction_index"
	ColLogIndex        = "log_index"
	ColContractAddress = "contract_address"
	ColFrom            = "from_address"
	ColStatus          = "status"
)

// commonColumns returns the common columns of a kind of typed table with their SQL types.
func commonColumns(k contract.Kind) [][2]string {
	cols := [][2]string{{ColBlockNumber, "bigint NOT NULL"}, {ColBlockTime, "timestamptz NOT NULL"},
		{ColTxHash, "bytea NOT NULL"}, {ColTxIndex, "integer NOT NULL"}}
	if k == contract.EventTable {
		return append(cols, [2]string{ColLogIndex, "integer NOT NULL"}, [2]string{ColContractAddress, "bytea NOT NULL"})
	}
	// A failed deployment has no contract address; failed calls are kept with their status.
	return append(cols, [2]string{ColContractAddress, "bytea"}, [2]string{ColFrom, "bytea NOT NULL"}, [2]string{ColStatus, "integer NOT NULL"})
}

// tableKey is the primary key of a typed table of a kind: its natural key, in the order the
// API pages its rows (block, transaction index, log index), so a page is a range of the
// primary key index. Within a block the transaction index and the transaction hash name the
// same transaction; keyed by the hash (as typed tables first were), a page starting in a block
// read and sorted every row of that block first.
func tableKey(k contract.Kind) []string {
	if k == contract.EventTable {
		return []string{ColBlockNumber, ColTxIndex, ColLogIndex}
	}
	return []string{ColBlockNumber, ColTxIndex}
}

// TableDDL returns the CREATE TABLE statement of a typed table: the common columns, the
// table's parameter columns with their SQL types, the natural key as primary key (tableKey),
// and range partitioning by block number.
func TableDDL(t *contract.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS export.%s (\n", pgx.Identifier{t.Name}.Sanitize())
	for _, c := range commonColumns(t.Kind) {
		fmt.Fprintf(&b, "    %s %s,\n", c[0], c[1])
	}
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "    %s %s,\n", pgx.Identifier{c.Name}.Sanitize(), c.SQLType)
	}
	fmt.Fprintf(&b, "    PRIMARY KEY (%s)\n", strings.Join(tableKey(t.Kind), ", "))
	b.WriteString(") PARTITION BY RANGE (block_number)")
	return b.String()
}

// ContractRecord is a row of export.contracts: what a contract's typed tables were built from.
type ContractRecord struct {
	Name        string
	Fingerprint []byte
	Learn       bool
	Addresses   [][]byte
	Tables      []string
}

// Contracts returns the registered contracts as stored, by name.
func (s *Store) Contracts(ctx context.Context) (map[string]ContractRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, fingerprint, learn, addresses, tables FROM export.contracts`)
	if err != nil {
		return nil, fmt.Errorf("read contracts: %w", err)
	}
	defer rows.Close()
	out := map[string]ContractRecord{}
	for rows.Next() {
		var r ContractRecord
		if err := rows.Scan(&r.Name, &r.Fingerprint, &r.Learn, &r.Addresses, &r.Tables); err != nil {
			return nil, fmt.Errorf("read contracts: %w", err)
		}
		out[r.Name] = r
	}
	return out, rows.Err()
}

// SaveContract records what a contract's typed tables are now built from.
func (t *Tx) SaveContract(ctx context.Context, r ContractRecord) error {
	_, err := t.Exec(ctx, `INSERT INTO export.contracts (name, fingerprint, learn, addresses, tables) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, learn = EXCLUDED.learn, addresses = EXCLUDED.addresses,
			tables = EXCLUDED.tables, updated_at = now()
		WHERE (contracts.fingerprint, contracts.learn, contracts.addresses, contracts.tables) IS DISTINCT FROM
			(EXCLUDED.fingerprint, EXCLUDED.learn, EXCLUDED.addresses, EXCLUDED.tables)`,
		r.Name, r.Fingerprint, r.Learn, r.Addresses, r.Tables)
	if err != nil {
		return fmt.Errorf("record contract %s: %w", r.Name, err)
	}
	return nil
}

// ResetContract drops a contract's typed tables (by their stored names), its decode failures
// and its learned deployments, before its history is decoded again from a changed entry.
// The compat views go first (they read the typed tables); they are created again after the
// rebuild.
func (t *Tx) ResetContract(ctx context.Context, name string, tables []string) error {
	if err := t.dropViews(ctx); err != nil {
		return err
	}
	for _, tb := range tables {
		if _, err := t.Exec(ctx, `DROP TABLE IF EXISTS export.`+pgx.Identifier{tb}.Sanitize()); err != nil {
			return fmt.Errorf("drop typed table %s of %s: %w", tb, name, err)
		}
		t.s.forget(tb)
	}
	tag, err := t.Exec(ctx, `DELETE FROM export.decode_failures WHERE contract = $1`, name)
	if err != nil {
		return fmt.Errorf("clear decode failures of %s: %w", name, err)
	}
	t.failures -= tag.RowsAffected()
	if _, err := t.Exec(ctx, `DELETE FROM export.deployments WHERE contract = $1`, name); err != nil {
		return fmt.Errorf("clear deployments of %s: %w", name, err)
	}
	return nil
}

// CreateTypedTable creates a typed table unless it exists. One that exists with another
// primary key (an older export's, by transaction hash) gets tableKey instead: the rows are the
// same, the index is rebuilt (on every partition, inside t: a large table takes a while, once).
// It reports whether it did.
func (t *Tx) CreateTypedTable(ctx context.Context, tb *contract.Table) (rekeyed bool, err error) {
	if _, err := t.Exec(ctx, TableDDL(tb)); err != nil {
		return false, fmt.Errorf("create typed table %s (%s.%s): %w", tb.Name, tb.Contract, tb.Item, err)
	}
	name := "export." + pgx.Identifier{tb.Name}.Sanitize()
	var (
		constraint string
		key        []string
	)
	err = t.QueryRow(ctx, `SELECT c.conname, array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint c
		CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
		WHERE c.conrelid = $1::regclass AND c.contype = 'p' GROUP BY c.conname`, name).Scan(&constraint, &key)
	if err != nil {
		return false, fmt.Errorf("read the primary key of typed table %s: %w", tb.Name, err)
	}
	want := tableKey(tb.Kind)
	if slices.Equal(key, want) {
		return false, nil
	}
	if _, err := t.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s DROP CONSTRAINT %s, ADD PRIMARY KEY (%s)`,
		name, pgx.Identifier{constraint}.Sanitize(), strings.Join(want, ", "))); err != nil {
		return false, fmt.Errorf("change the primary key of typed table %s from (%s) to (%s): %w", tb.Name,
			strings.Join(key, ", "), strings.Join(want, ", "), err)
	}
	return true, nil
}

// TypedRow is one row of a typed table.
type TypedRow struct {
	Table           *contract.Table
	BlockNumber     uint64
	BlockTime       time.Time
	TxHash          []byte
	TxIndex         uint32
	LogIndex        uint32 // events
	ContractAddress []byte
	From            []byte // methods and constructors
	Status          uint32 // methods and constructors
	Values          []any
}

// WriteTyped writes typed rows, creating the partitions they need.
func (t *Tx) WriteTyped(ctx context.Context, rows []TypedRow) error {
	byTable, fresh := map[*contract.Table][][]any{}, map[*contract.Table][][]any{}
	blocks := map[*contract.Table][]uint64{}
	var order []*contract.Table
	for _, r := range rows {
		if _, ok := blocks[r.Table]; !ok {
			order = append(order, r.Table)
		}
		v := []any{int64(r.BlockNumber), r.BlockTime, r.TxHash, int32(r.TxIndex)}
		if r.Table.Kind == contract.EventTable {
			v = append(v, int32(r.LogIndex), r.ContractAddress)
		} else {
			v = append(v, nullable(r.ContractAddress), r.From, int32(r.Status))
		}
		if t.isFresh(r.BlockNumber) {
			fresh[r.Table] = append(fresh[r.Table], append(v, r.Values...))
		} else {
			byTable[r.Table] = append(byTable[r.Table], append(v, r.Values...))
		}
		blocks[r.Table] = append(blocks[r.Table], r.BlockNumber)
	}
	for _, tb := range order {
		if err := t.ensurePartitions(ctx, tb.Name, blocks[tb]); err != nil {
			return err
		}
		var cols []string
		for _, c := range commonColumns(tb.Kind) {
			cols = append(cols, c[0])
		}
		for _, c := range tb.Columns {
			cols = append(cols, c.Name)
		}
		if _, err := t.copyNew(ctx, tb.Name, cols, fresh[tb]); err != nil {
			return err
		}
		key := []int{0, 3} // block_number, transaction_index: tableKey
		if tb.Kind == contract.EventTable {
			key = append(key, 4) // log_index
		}
		if _, err := t.insertMissing(ctx, tb.Name, cols, key, byTable[tb]); err != nil {
			return err
		}
	}
	return nil
}

// BlockRef is what decoded rows and messages say of their block.
type BlockRef struct {
	Number      uint64
	Hash        []byte
	Time        time.Time
	TimestampMS uint64
}

// StoredLog is a stored log with its block.
type StoredLog struct {
	Log
	Block BlockRef
}

// StoredTx is a stored transaction with its block: the fields decoding needs.
type StoredTx struct {
	Transaction
	Block BlockRef
}

// Range selects stored rows by block number, [From, To], leaving out the Skip blocks.
type Range struct {
	From, To uint64
	Skip     []uint64
}

// LogsOf returns the stored logs emitted by addrs in r, in block, transaction and log order.
func (t *Tx) LogsOf(ctx context.Context, addrs [][]byte, r Range) ([]StoredLog, error) {
	rows, err := t.Query(ctx, `SELECT l.block_number, l.transaction_hash, l.transaction_index, l.log_index, l.address, l.topics, l.data,
			b.hash, b.time, b.timestamp_ms
		FROM export.logs l JOIN export.blocks b ON b.number = l.block_number
		WHERE l.address = ANY($1) AND l.block_number BETWEEN $2 AND $3 AND NOT l.block_number = ANY($4)
		ORDER BY l.block_number, l.transaction_index, l.log_index`, addrs, int64(r.From), int64(r.To), int64s(r.Skip))
	if err != nil {
		return nil, fmt.Errorf("read stored logs: %w", err)
	}
	defer rows.Close()
	var out []StoredLog
	for rows.Next() {
		var (
			l      StoredLog
			bn, ts int64
			ti, li int32
		)
		if err := rows.Scan(&bn, &l.TxHash, &ti, &li, &l.Address, &l.Topics, &l.Data, &l.Block.Hash, &l.Block.Time, &ts); err != nil {
			return nil, fmt.Errorf("read stored logs: %w", err)
		}
		l.BlockNumber, l.TxIndex, l.LogIndex = uint64(bn), uint32(ti), uint32(li)
		l.Block.Number, l.Block.TimestampMS = uint64(bn), uint64(ts)
		out = append(out, l)
	}
	return out, rows.Err()
}

// TxsOf returns the stored transactions in r that called addrs (to one of them) or, with
// creations, that created a contract, in block and transaction order.
func (t *Tx) TxsOf(ctx context.Context, addrs [][]byte, creations bool, r Range) ([]StoredTx, error) {
	rows, err := t.Query(ctx, `SELECT x.block_number, x.transaction_index, x.hash, x.from_address, x.to_address, x.input, x.status, x.output, x.contract_address,
			b.hash, b.time, b.timestamp_ms
		FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number
		WHERE (x.to_address = ANY($1) OR ($2 AND x.to_address IS NULL)) AND x.block_number BETWEEN $3 AND $4 AND NOT x.block_number = ANY($5)
		ORDER BY x.block_number, x.transaction_index`, addrs, creations, int64(r.From), int64(r.To), int64s(r.Skip))
	if err != nil {
		return nil, fmt.Errorf("read stored transactions: %w", err)
	}
	defer rows.Close()
	var out []StoredTx
	for rows.Next() {
		var (
			x      StoredTx
			bn, ts int64
			ti, st int32
		)
		if err := rows.Scan(&bn, &ti, &x.Hash, &x.From, &x.To, &x.Input, &st, &x.Output, &x.ContractAddress, &x.Block.Hash, &x.Block.Time, &ts); err != nil {
			return nil, fmt.Errorf("read stored transactions: %w", err)
		}
		x.BlockNumber, x.Index, x.Status = uint64(bn), uint32(ti), uint32(st)
		x.Block.Number, x.Block.TimestampMS = uint64(bn), uint64(ts)
		out = append(out, x)
	}
	return out, rows.Err()
}

// Height returns the lowest and highest stored block, and false when none is stored.
func (s *Store) Height(ctx context.Context) (lo, hi uint64, ok bool, err error) {
	var l, h *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(number), max(number) FROM export.blocks`).Scan(&l, &h); err != nil {
		return 0, 0, false, fmt.Errorf("read stored block range: %w", err)
	}
	if l == nil {
		return 0, 0, false, nil
	}
	return uint64(*l), uint64(*h), true, nil
}

// KnownAddresses returns every deployment's address by contract.
func (t *Tx) KnownAddresses(ctx context.Context, name string) ([][]byte, error) {
	rows, err := t.Query(ctx, `SELECT address FROM export.deployments WHERE contract = $1 ORDER BY address`, name)
	if err != nil {
		return nil, fmt.Errorf("read deployments of %s: %w", name, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

func int64s(ns []uint64) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = int64(n)
	}
	return out
}
