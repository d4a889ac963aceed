// Package store keeps export's tables in PostgreSQL schema "export": blocks, transactions with
// their receipts, logs, the registered contracts and their deployments, one typed table per
// event, method and constructor of each registered contract, decode failures, the outbox of the
// decoded topics, the progress row and the consumed Kafka offsets.
//
// Every write happens in a transaction the caller owns (one per batch of blocks), and every
// such transaction first takes the export write lock (Lock): writers of several instances
// then see each other's committed rows (a deployment learned by one is seen by the next) and
// the outbox's sequence follows commit order. Rows land by COPY, and applying a batch again
// changes nothing: rows of blocks not stored before go straight into their tables (no row
// of such a block can exist, see Tx.CopyFresh); decoded rows and messages of stored blocks
// are copied after leaving out those whose natural key is stored (insertMissing, WriteOutbox);
// base rows of stored blocks (replays) and decode failures go through a staging table and
// INSERT … ON CONFLICT DO NOTHING on their natural key.
package store

import (
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/postgres"
)

// Schema is the PostgreSQL schema export owns.
const Schema = "export"

// Tables are export's own tables in the schema, which no typed table may be named. (Partitions
// are named <table>_p<k>; a typed table named like another table's partition would need an
// item literally ending in "P<k>".)
var Tables = []string{"progress", "blocks", "transactions", "logs", "contracts", "deployments", "decode_failures",
	"outbox", "outbox_progress", "kafka_offsets", "schema_version", "compat_views", "registered_contracts"}

// DefaultPartitionBlocks is how many blocks one partition of a large table holds.
const DefaultPartitionBlocks = 1_000_000

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // The embedded directory is part of the binary.
	}
	return sub
}

// ErrIdentity reports a database holding another chain's or group's export.
var ErrIdentity = errors.New("database holds another chain's export")

// lockKey is the transaction-level advisory lock every writing transaction takes first.
const lockKey = int64(0x62636f7365787031) // "bcosexp1"

// Store is export's PostgreSQL storage. Safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// reads is the query API's own pool (see readerPool).
	reads *pgxpool.Pool
	// PartitionBlocks is the block range of one partition; set before the first write.
	partitionBlocks uint64

	// null lists, by table, the columns written NULL (Data-Export's ignoreBasicDataTableParams).
	null map[string][]string

	mu sync.Mutex
	// parts holds the partitions known to exist (committed), by partition table name.
	parts map[string]bool
	// functions holds TxTables' functions by name: true once made, false when refused.
	functions sync.Map
}

// Open migrates the schema. partitionBlocks 0 means DefaultPartitionBlocks.
func Open(ctx context.Context, pool *pgxpool.Pool, partitionBlocks uint64) (*Store, error) {
	if err := postgres.Migrate(ctx, pool, Schema, Migrations()); err != nil {
		return nil, err
	}
	if partitionBlocks == 0 {
		partitionBlocks = DefaultPartitionBlocks
	}
	reads, err := readerPool(pool)
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, reads: reads, partitionBlocks: partitionBlocks, parts: map[string]bool{}}, nil
}

// readPlans is the query API's plan_cache_mode: each prepared statement is planned once per
// connection, not at every execution. Under PostgreSQL's default (auto) a page of a list was
// planned again at every request: its LIMIT and block bound are parameters, and with them
// the generic plan's estimate (a third of the rows match each range) always looked dearer
// than a plan for the values at hand, although both are the same range scan of the primary
// key. Planning cost more than the scan: at 1M transactions, 128 µs of planning against 71 µs
// of execution per ListEvents (pg_stat_statements). Every statement of the API is a point
// lookup or a keyset page on an index built for its order (the typed tables have no other),
// so the plan does not depend on the values. The price: a generic plan names every partition
// of its tables and PostgreSQL 15 locks each at every execution (partitions of
// DefaultPartitionBlocks blocks: a few dozen after years of a chain).
const readPlans = "force_generic_plan"

// ReadConns caps the connections of the query API's pool, opened as requests need them.
const ReadConns = 8

// readerPool opens the pool the query API reads through, on the server and with the
// settings of pool, apart from it so that API requests never queue for a connection behind
// the consumer's batches, and with what every read needs set once per session rather than
// sent with every request: the lock timeout (see readLockTimeout; it also bounds the
// statement preparation a query's first use on a connection does, which locks the tables
// it names), read-only transactions as a safety net, and generic plans (readPlans).
func readerPool(pool *pgxpool.Pool) (*pgxpool.Pool, error) {
	cfg := pool.Config()
	cfg.MaxConns, cfg.MinConns = ReadConns, 0
	if name := cfg.ConnConfig.RuntimeParams["application_name"]; name != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = name + "-api"
	}
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = readLockTimeout
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = readPlans
	reads, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open the query API's pool: %w", err)
	}
	return reads, nil
}

// Close closes the query API's pool; the pool given to Open stays the caller's.
func (s *Store) Close() { s.reads.Close() }

// WriteNull makes the writes leave columns NULL, by table (set before the first write). Only
// nullable columns no reader of the store needs may be named (see the compat package).
func (s *Store) WriteNull(columns map[string][]string) { s.null = columns }

// Pool returns the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Start is where a deployment begins: blocks before StartBlock, or before StartTime when it
// is set, are skipped.
type Start struct {
	Block uint64
	Time  time.Time
}

// Skips reports whether a block is before the start.
func (st Start) Skips(number uint64, t time.Time) bool {
	return number < st.Block || (!st.Time.IsZero() && t.Before(st.Time))
}

// Init creates the progress row for chain and group with the start the flags give, or checks
// that the existing row is theirs and returns the start it recorded: the start of a
// deployment is chosen once.
func (s *Store) Init(ctx context.Context, chain string, group uint, start Start) (Start, error) {
	var t *time.Time
	if !start.Time.IsZero() {
		t = &start.Time
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO export.progress (chain, grp, start_block, start_time) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
		chain, int64(group), int64(start.Block), t)
	if err != nil {
		return Start{}, fmt.Errorf("create progress row: %w", err)
	}
	var (
		c  string
		g  int64
		sb int64
		st *time.Time
	)
	if err := s.pool.QueryRow(ctx, `SELECT chain, grp, start_block, start_time FROM export.progress`).Scan(&c, &g, &sb, &st); err != nil {
		return Start{}, fmt.Errorf("read progress row: %w", err)
	}
	if c != chain || uint(g) != group {
		return Start{}, fmt.Errorf("open export of chain %s group %d: %w: it is chain %s group %d", chain, group, ErrIdentity, c, g)
	}
	got := Start{Block: uint64(sb)}
	if st != nil {
		got.Time = *st
	}
	return got, nil
}

// Progress is the progress row.
type Progress struct {
	Height    uint64
	HasHeight bool
	Blocks    uint64
	Skipped   uint64
	Start     Start
}

// Progress reads the progress row.
func (s *Store) Progress(ctx context.Context) (Progress, error) {
	var (
		p      Progress
		h      *int64
		b, sk  int64
		sb     int64
		starts *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT exported_height, blocks, skipped_blocks, start_block, start_time FROM export.progress`).Scan(&h, &b, &sk, &sb, &starts)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read progress: %w", err)
	}
	if h != nil {
		p.Height, p.HasHeight = uint64(*h), true
	}
	p.Blocks, p.Skipped, p.Start.Block = uint64(b), uint64(sk), uint64(sb)
	if starts != nil {
		p.Start.Time = *starts
	}
	return p, nil
}

// Begin starts a writing transaction holding the export write lock. Every transaction that
// writes rows or the outbox goes through it.
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("take export write lock: %w", err)
	}
	return &Tx{Tx: tx, s: s, written: map[string]int64{}}, nil
}

// Tx is a writing transaction. Commit it with Commit, which also remembers the partitions it
// created.
type Tx struct {
	pgx.Tx
	s       *Store
	pending []string
	// written counts the rows inserted by table (replays excluded).
	written map[string]int64
	// events, calls and failures are what this transaction adds to the counters of the
	// progress row (export.progress events_queued, calls_queued, decode_failures).
	events, calls, failures int64
	// copyFresh lets WriteBase find the batch's blocks not stored before (fresh); their rows
	// are copied straight into their tables (see CopyFresh).
	copyFresh bool
	fresh     map[uint64]bool
}

// CopyFresh makes WriteBase, and the writes after it, copy the rows of blocks not stored
// before straight into their tables instead of through a staging table and INSERT … ON
// CONFLICT: under the write lock, a block not in export.blocks has no rows anywhere, because
// its base rows are only written with it and every decoded row, failure and message of a block
// is derived from its stored rows or written with it. Rows of other blocks (replays, decoded
// history) still go through staging. Should the assumption ever fail, the COPY fails with a
// unique violation (IsUniqueViolation) and the batch can be applied again without CopyFresh.
func (t *Tx) CopyFresh() { t.copyFresh = true }

// IsUniqueViolation reports an error of a write that met a row already stored.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isFresh reports a block of the batch that was not stored before it.
func (t *Tx) isFresh(n uint64) bool { return t.fresh[n] }

// Written returns the rows this transaction inserted, by table.
func (t *Tx) Written() map[string]int64 { return t.written }

// Commit adds what the transaction queued and recorded to the progress row's counters,
// commits, and remembers the partitions created.
func (t *Tx) Commit(ctx context.Context) error {
	if t.events != 0 || t.calls != 0 || t.failures != 0 {
		if _, err := t.Exec(ctx, `UPDATE export.progress SET events_queued = events_queued + $1, calls_queued = calls_queued + $2,
			decode_failures = decode_failures + $3`, t.events, t.calls, t.failures); err != nil {
			return fmt.Errorf("count queued messages and decode failures: %w", err)
		}
	}
	if err := t.Tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	t.s.mu.Lock()
	for _, p := range t.pending {
		t.s.parts[p] = true
	}
	t.s.mu.Unlock()
	return nil
}

// Rollback ends an unfinished transaction; it is a no-op after Commit.
func (t *Tx) Rollback(ctx context.Context) { _ = t.Tx.Rollback(ctx) }

// forget drops the cached partitions of a table, after it was dropped.
func (s *Store) forget(table string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.parts {
		if len(p) > len(table) && p[:len(table)] == table && p[len(table):len(table)+2] == "_p" {
			delete(s.parts, p)
		}
	}
}

// ensurePartitions creates the partitions of a partitioned table that blocks need.
func (t *Tx) ensurePartitions(ctx context.Context, table string, blocks []uint64) error {
	size := t.s.partitionBlocks
	seen := map[uint64]bool{}
	for _, b := range blocks {
		k := b / size
		if seen[k] {
			continue
		}
		seen[k] = true
		name := partitionName(table, k)
		t.s.mu.Lock()
		known := t.s.parts[name]
		t.s.mu.Unlock()
		if known {
			continue
		}
		sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS export.%s PARTITION OF export.%s FOR VALUES FROM (%d) TO (%d)`,
			pgx.Identifier{name}.Sanitize(), pgx.Identifier{table}.Sanitize(), k*size, (k+1)*size)
		if _, err := t.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create partition %s of %s for blocks %d-%d: %w", name, table, k*size, (k+1)*size-1, err)
		}
		t.pending = append(t.pending, name)
	}
	return nil
}

// partitionName is the name of partition k of table; names too long for PostgreSQL's 63
// bytes are cut, the table's own name staying a prefix.
func partitionName(table string, k uint64) string {
	suffix := fmt.Sprintf("_p%d", k)
	if len(table)+len(suffix) > 63 {
		table = table[:63-len(suffix)]
	}
	return table + suffix
}

// upsert writes rows into export.<table> through a staging table: COPY, then INSERT … ON
// CONFLICT DO NOTHING, so rows already there (a replay) are left as they are. It returns the
// rows inserted.
func (t *Tx) upsert(ctx context.Context, table string, cols []string, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	stage := "stage_" + table
	if len(stage) > 63 {
		stage = stage[:63]
	}
	qt, qs := "export."+pgx.Identifier{table}.Sanitize(), pgx.Identifier{stage}.Sanitize()
	list := ""
	for i, c := range cols {
		if i > 0 {
			list += ", "
		}
		list += pgx.Identifier{c}.Sanitize()
	}
	if _, err := t.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP`, qs, qt)); err != nil {
		return 0, fmt.Errorf("create staging table for %s: %w", table, err)
	}
	if _, err := t.Exec(ctx, `TRUNCATE `+qs); err != nil {
		return 0, fmt.Errorf("empty staging table for %s: %w", table, err)
	}
	t.blank(table, cols, rows)
	if _, err := t.CopyFrom(ctx, pgx.Identifier{stage}, cols, pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("copy %d rows for %s: %w", len(rows), table, err)
	}
	tag, err := t.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT DO NOTHING`, qt, list, list, qs))
	if err != nil {
		return 0, fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	n := tag.RowsAffected()
	t.written[table] += n
	return n, nil
}

// blank sets the columns written NULL (WriteNull) of rows.
func (t *Tx) blank(table string, cols []string, rows [][]any) {
	for _, c := range t.s.null[table] {
		for i, name := range cols {
			if name == c {
				for _, r := range rows {
					r[i] = nil
				}
			}
		}
	}
}

// copyNew copies rows known not to be stored (see CopyFresh) straight into export.<table>.
func (t *Tx) copyNew(ctx context.Context, table string, cols []string, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	t.blank(table, cols, rows)
	n, err := t.CopyFrom(ctx, pgx.Identifier{Schema, table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, fmt.Errorf("copy %d rows into %s: %w", len(rows), table, err)
	}
	t.written[table] += n
	return n, nil
}

// write writes rows of fresh blocks (see CopyFresh) by COPY and the others through upsert,
// and returns the rows inserted.
func (t *Tx) write(ctx context.Context, table string, cols []string, fresh, others [][]any) (int64, error) {
	n, err := t.copyNew(ctx, table, cols, fresh)
	if err != nil {
		return 0, err
	}
	m, err := t.upsert(ctx, table, cols, others)
	return n + m, err
}

// storedBlocks returns which of numbers are in export.blocks.
func (t *Tx) storedBlocks(ctx context.Context, numbers []uint64) (map[uint64]bool, error) {
	rows, err := t.Query(ctx, `SELECT number FROM export.blocks WHERE number = ANY($1)`, int64s(numbers))
	if err != nil {
		return nil, fmt.Errorf("read stored blocks: %w", err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read stored blocks: %w", err)
	}
	out := make(map[uint64]bool, len(ns))
	for _, n := range ns {
		out[uint64(n)] = true
	}
	return out, nil
}

// insertMissing writes rows of blocks that may hold some of them already (decoded history,
// a repeated backfill): it reads the keys stored in those blocks, leaves out the rows whose
// key is stored or came earlier in rows, and copies the rest straight into export.<table>,
// in their order. It is what INSERT … ON CONFLICT DO NOTHING does, without the staging
// table, whose INSERT … SELECT cost more than the COPY itself; the write lock keeps other
// writers out meanwhile. key indexes cols: the natural key, cols[key[0]] the block number.
func (t *Tx) insertMissing(ctx context.Context, table string, cols []string, key []int, rows [][]any) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	blocks := map[int64]bool{}
	var numbers []int64
	for _, r := range rows {
		if n := r[key[0]].(int64); !blocks[n] {
			blocks[n] = true
			numbers = append(numbers, n)
		}
	}
	list := ""
	for i, k := range key {
		if i > 0 {
			list += ", "
		}
		list += pgx.Identifier{cols[k]}.Sanitize()
	}
	q := fmt.Sprintf(`SELECT %s FROM export.%s WHERE %s = ANY($1)`, list, pgx.Identifier{table}.Sanitize(), pgx.Identifier{cols[key[0]]}.Sanitize())
	stored, err := t.Query(ctx, q, numbers)
	if err != nil {
		return 0, fmt.Errorf("read stored keys of %s: %w", table, err)
	}
	seen := map[string]bool{}
	var b []byte
	for stored.Next() {
		vals, err := stored.Values()
		if err != nil {
			stored.Close()
			return 0, fmt.Errorf("read stored keys of %s: %w", table, err)
		}
		b = appendKey(b[:0], vals)
		seen[string(b)] = true
	}
	stored.Close()
	if err := stored.Err(); err != nil {
		return 0, fmt.Errorf("read stored keys of %s: %w", table, err)
	}
	kv := make([]any, len(key))
	fresh := make([][]any, 0, len(rows))
	for _, r := range rows {
		for i, k := range key {
			kv[i] = r[k]
		}
		b = appendKey(b[:0], kv)
		if seen[string(b)] {
			continue
		}
		seen[string(b)] = true
		fresh = append(fresh, r)
	}
	return t.copyNew(ctx, table, cols, fresh)
}

// appendKey appends an unambiguous encoding of key values (as pgx reads them: bigint,
// integer, text, bytea) to b.
func appendKey(b []byte, vals []any) []byte {
	for _, v := range vals {
		switch v := v.(type) {
		case int64:
			b = binary.BigEndian.AppendUint64(append(b, 'q'), uint64(v))
		case int32:
			b = binary.BigEndian.AppendUint32(append(b, 'i'), uint32(v))
		case string:
			b = append(binary.BigEndian.AppendUint32(append(b, 's'), uint32(len(v))), v...)
		case []byte:
			b = append(binary.BigEndian.AppendUint32(append(b, 'b'), uint32(len(v))), v...)
		case nil:
			b = append(b, 'n')
		default:
			b = fmt.Appendf(append(b, 'x'), "%T:%v;", v, v)
		}
	}
	return b
}
