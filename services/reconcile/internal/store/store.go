// Package store keeps reconcile's tables in PostgreSQL schema "reconcile": the on-chain records
// consumed from export's decoded topics (with the consumed offsets, in the same transaction),
// the jobs created over the API, runs, the business rows and chain records a run loaded, and
// its results. See migrations/001_init.sql for the tables.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/postgres"
)

// Schema is the PostgreSQL schema reconcile owns.
const Schema = "reconcile"

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

// ErrNotFound is returned for a job or run that does not exist.
var ErrNotFound = errors.New("not found")

// Store is reconcile's PostgreSQL storage. Safe for concurrent use.
type Store struct {
	Pool *pgxpool.Pool
}

// Open migrates the schema and returns the store.
func Open(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	if err := postgres.Migrate(ctx, pool, Schema, Migrations()); err != nil {
		return nil, fmt.Errorf("migrate schema %s: %w", Schema, err)
	}
	return &Store{Pool: pool}, nil
}

// Record is one on-chain record: a decoded event or call.
type Record struct {
	TxHash           string
	LogIndex         int32
	Kind             string // "event" or "call"
	ContractName     string
	ContractAddress  string
	Name, Signature  string
	BlockNumber      uint64
	BlockTimestampMs uint64
	From             *string
	Status           *int32
	// Params are the decoded arguments by name, canonical texts.
	Params map[string]string
}

var recordColumns = []string{"transaction_hash", "log_index", "kind", "contract_name", "contract_address", "name", "signature",
	"block_number", "block_timestamp_ms", "block_time", "from_address", "status", "params"}

// WriteRecords stores records in tx; records already stored (by transaction hash, log index
// and kind) are left as they are, so a batch applied twice changes nothing. It also moves the
// consumed progress up to the records' highest block and block time.
func WriteRecords(ctx context.Context, tx pgx.Tx, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE records_in (LIKE reconcile.records) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	var height, maxTime uint64
	rows := make([][]any, len(recs))
	for i, r := range recs {
		height, maxTime = max(height, r.BlockNumber), max(maxTime, r.BlockTimestampMs)
		params := r.Params
		if params == nil {
			params = map[string]string{}
		}
		rows[i] = []any{r.TxHash, r.LogIndex, r.Kind, r.ContractName, r.ContractAddress, r.Name, r.Signature,
			int64(r.BlockNumber), int64(r.BlockTimestampMs), time.UnixMilli(int64(r.BlockTimestampMs)).UTC(), r.From, r.Status, params}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"records_in"}, recordColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy records: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO reconcile.records SELECT * FROM records_in ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("insert records: %w", err)
	}
	if _, err := tx.Exec(ctx, `DROP TABLE records_in`); err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO reconcile.progress (id, block_number, block_timestamp_ms) VALUES (true, $1, $2)
		ON CONFLICT (id) DO UPDATE SET block_number = GREATEST(progress.block_number, EXCLUDED.block_number),
			block_timestamp_ms = GREATEST(progress.block_timestamp_ms, EXCLUDED.block_timestamp_ms), updated_at = now()`,
		int64(height), int64(maxTime))
	if err != nil {
		return fmt.Errorf("update progress: %w", err)
	}
	return nil
}

// Progress is how far the on-chain side has been consumed.
type Progress struct {
	BlockNumber, BlockTimestampMs int64
	Updated                       time.Time
	Has                           bool
}

// Progress returns the consumed progress.
func (s *Store) Progress(ctx context.Context) (Progress, error) {
	var p Progress
	err := s.Pool.QueryRow(ctx, `SELECT block_number, block_timestamp_ms, updated_at FROM reconcile.progress`).Scan(&p.BlockNumber, &p.BlockTimestampMs, &p.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read progress: %w", err)
	}
	p.Has = true
	return p, nil
}

// Jobs returns the stored jobs: name → spec (a one-job YAML jobs file).
func (s *Store) Jobs(ctx context.Context) (map[string]string, error) {
	rows, err := s.Pool.Query(ctx, `SELECT name, spec FROM reconcile.jobs`)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	out := make(map[string]string)
	var name, spec string
	_, err = pgx.ForEachRow(rows, []any{&name, &spec}, func() error { out[name] = spec; return nil })
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	return out, nil
}

// PutJob stores a job; create says it must not exist yet (else it must).
func (s *Store) PutJob(ctx context.Context, name, spec string, create bool) error {
	if create {
		tag, err := s.Pool.Exec(ctx, `INSERT INTO reconcile.jobs (name, spec) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, spec)
		if err != nil {
			return fmt.Errorf("store job %s: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("job %s: %w", name, ErrExists)
		}
		return nil
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE reconcile.jobs SET spec = $2, updated_at = now() WHERE name = $1`, name, spec)
	if err != nil {
		return fmt.Errorf("store job %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("job %s: %w", name, ErrNotFound)
	}
	return nil
}

// ErrExists is returned when creating a job that exists.
var ErrExists = errors.New("already exists")

// DeleteJob removes a stored job.
func (s *Store) DeleteJob(ctx context.Context, name string) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM reconcile.jobs WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete job %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("job %s: %w", name, ErrNotFound)
	}
	return nil
}
