// Package store keeps the stash in PostgreSQL schema "stash": the node's storage tables
// mirrored in the FISCO/Data-Stash layout (a main table with the latest version of each row and
// a history table with every version, <name>d_ or <name>_d_), one row per verified block, the
// checkpoint chain, and the progress row, all written in one transaction per batch of blocks so
// a crash anywhere leaves either the whole batch or none of it.
//
// Mirrored tables have the columns _id_ (bigint, the node's row id), _num_ (the block that
// wrote the version), _status_ (0 normal, 1 deleted), _kind_ (1 updated, 2 inserted) and one
// bytea column per field, key first. Values are the node's raw bytes, so binary fields (block
// RLP, code) are kept losslessly; SQL NULL marks a field the entry did not carry.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"embed"

	"github.com/bcosdata/bcosdata/libs/postgres"
)

// Schema is the PostgreSQL schema the stash owns.
const Schema = "stash"

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

var (
	// ErrNotFound reports a block or table the stash does not hold.
	ErrNotFound = errors.New("not found in the stash")
	// ErrIdentity reports a database holding another chain's or group's stash.
	ErrIdentity = errors.New("database holds another chain's stash")
)

// Ledger tables hold one row per block or transaction that is never updated; their history
// table is a view of the main table instead of a second copy.
var ledgerTables = map[string]bool{
	"_sys_hash_2_block_":    true,
	"_sys_hash_2_header_":   true,
	"_sys_number_2_hash_":   true,
	"_sys_tx_hash_2_block_": true,
	"_sys_block_2_nonces_":  true,
}

// Special column names of mirrored tables.
const (
	colID     = "_id_"
	colNum    = "_num_"
	colStatus = "_status_"
	colKind   = "_kind_"
)

// Store is the stash's PostgreSQL storage. Safe for concurrent use; Apply calls must not
// overlap.
type Store struct {
	pool *pgxpool.Pool

	mu      sync.RWMutex
	catalog map[string]*tableInfo
	// unindexed names the mirrored tables whose key index may not exist yet (guarded by mu).
	unindexed map[string]bool
	// keyIndexes is set once BuildKeyIndexes has run: from then on a table gets its key index
	// when it is created. Until then (catching up) key indexes are left out, see
	// BuildKeyIndexes.
	keyIndexes atomic.Bool
}

// tableInfo is a catalog row: where a node table is mirrored.
type tableInfo struct {
	Name, Main, History string
	KeyField, KeyColumn string
	Fields, Columns     []string
	Ledger              bool
	FirstBlock          uint64
	// Layouts is the history of the table's field list (see layout.go), oldest first.
	Layouts []layout
}

func (t *tableInfo) clone() *tableInfo {
	c := *t
	c.Fields, c.Columns, c.Layouts = slices.Clone(t.Fields), slices.Clone(t.Columns), slices.Clone(t.Layouts)
	return &c
}

// Open migrates the schema and loads the catalog. The pool's connections must not set a
// search_path that hides schema stash (every statement names it).
func Open(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	if err := postgres.Migrate(ctx, pool, Schema, Migrations()); err != nil {
		return nil, err
	}
	s := &Store{pool: pool, catalog: map[string]*tableInfo{}, unindexed: map[string]bool{}}
	rows, err := pool.Query(ctx, `SELECT name, main_table, history_table, key_field, key_column, fields, columns, ledger, first_block, layouts FROM stash.stash_tables`)
	if err != nil {
		return nil, fmt.Errorf("load table catalog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t := &tableInfo{}
		var first int64
		if err := rows.Scan(&t.Name, &t.Main, &t.History, &t.KeyField, &t.KeyColumn, &t.Fields, &t.Columns, &t.Ledger, &first, &t.Layouts); err != nil {
			return nil, fmt.Errorf("load table catalog: %w", err)
		}
		t.FirstBlock = uint64(first)
		s.catalog[t.Name] = t
		// A previous run may have stopped before it built the table's key index.
		s.unindexed[t.Name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load table catalog: %w", err)
	}
	return s, nil
}

// Progress is the progress row.
type Progress struct {
	// FirstBlock is the first block ingested (valid with HasVerified).
	FirstBlock uint64
	// LastVerified is the highest block stored, valid with HasVerified.
	LastVerified uint64
	HasVerified  bool
	// LastPublished is the highest block published, valid with HasPublished.
	LastPublished uint64
	HasPublished  bool
	Checkpoint    [32]byte
}

// Init creates the progress row for chain and group, or checks that the existing one is theirs.
func (s *Store) Init(ctx context.Context, chain string, group uint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO stash.stash_progress (chain, grp) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, chain, int64(group))
	if err != nil {
		return fmt.Errorf("create progress row: %w", err)
	}
	var c string
	var g int64
	if err := s.pool.QueryRow(ctx, `SELECT chain, grp FROM stash.stash_progress`).Scan(&c, &g); err != nil {
		return fmt.Errorf("read progress row: %w", err)
	}
	if c != chain || uint(g) != group {
		return fmt.Errorf("open stash of chain %s group %d: %w: it is chain %s group %d", chain, group, ErrIdentity, c, g)
	}
	return nil
}

// Progress reads the progress row.
func (s *Store) Progress(ctx context.Context) (Progress, error) {
	var (
		p               Progress
		first, ver, pub *int64
		cp              []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT first_block, last_verified, last_published, checkpoint FROM stash.stash_progress`).Scan(&first, &ver, &pub, &cp)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read progress: %w", err)
	}
	if ver != nil {
		p.HasVerified, p.LastVerified = true, uint64(*ver)
	}
	if first != nil {
		p.FirstBlock = uint64(*first)
	}
	if pub != nil {
		p.HasPublished, p.LastPublished = true, uint64(*pub)
	}
	copy(p.Checkpoint[:], cp)
	return p, nil
}

// SetPublished records that every block up to n is on the bus.
func (s *Store) SetPublished(ctx context.Context, n uint64) error {
	_, err := s.pool.Exec(ctx, `UPDATE stash.stash_progress SET last_published = $1, updated_at = now() WHERE last_published IS NULL OR last_published < $1`, int64(n))
	if err != nil {
		return fmt.Errorf("record block %d published: %w", n, err)
	}
	return nil
}

// Tables returns the names of the mirrored tables, sorted.
func (s *Store) Tables() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.catalog))
	for n := range s.catalog {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (s *Store) table(name string) *tableInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.catalog[name]
}

// Names reserved for the stash's own tables; a node table of such a name is mirrored under a
// hashed name instead.
var reserved = map[string]bool{"stash_progress": true, "stash_blocks": true, "stash_tables": true, postgres.VersionTable: true}

// usableName reports whether a node table name can be a PostgreSQL identifier as it is (with
// room for the history suffix).
func usableName(n string) bool {
	if n == "" || len(n) > 59 || reserved[n] || strings.HasPrefix(n, "stash_") {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x20 || c > 0x7e || c == '"' {
			return false
		}
	}
	return true
}

func hashedName(n string) string {
	sum := sha256.Sum256([]byte(n))
	return "t_" + hex.EncodeToString(sum[:10])
}

// historyName follows Data-Stash: <name>d_ when the name ends with '_', else <name>_d_.
func historyName(main string) string {
	if strings.HasSuffix(main, "_") {
		return main + "d_"
	}
	return main + "_d_"
}

// columnName maps a field to a column: the field name when it is a usable identifier distinct
// from the special columns and the columns already taken, else f<i>.
func columnName(field string, i int, taken map[string]bool) string {
	ok := field != "" && len(field) <= 63 && !taken[field]
	for j := 0; ok && j < len(field); j++ {
		if c := field[j]; c < 0x20 || c > 0x7e || c == '"' {
			ok = false
		}
	}
	name := field
	if !ok {
		name = fmt.Sprintf("f%d", i)
		for taken[name] {
			name += "_"
		}
	}
	taken[name] = true
	return name
}

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

func qualified(table string) string { return ident(Schema, table) }
