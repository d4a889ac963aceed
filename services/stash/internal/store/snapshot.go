package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

// SnapshotPage is a page of one table's rows.
type SnapshotPage struct {
	Table    string
	KeyField string
	Fields   []string
	Rows     []state.Row
	// Nums is the block that wrote each row's version, parallel to Rows.
	Nums []uint64
}

// Snapshot calls fn with pages of the latest state of every row, deleted rows included, of
// each mirrored table as of block n (tables by name; only those listed, when tables is not
// empty). It reads one consistent snapshot of the database. n must be stored.
func (s *Store) Snapshot(ctx context.Context, n uint64, tables []string, pageRows int, fn func(SnapshotPage) error) error {
	if pageRows <= 0 {
		pageRows = 500
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("snapshot as of block %d: begin: %w", n, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after commit
	var last *int64
	if err := tx.QueryRow(ctx, `SELECT last_verified FROM stash.stash_progress`).Scan(&last); err != nil {
		return fmt.Errorf("snapshot as of block %d: read progress: %w", n, err)
	}
	if last == nil || uint64(*last) < n {
		return fmt.Errorf("snapshot as of block %d: %w: the stash holds blocks up to %v", n, ErrNotFound, last)
	}
	latest := uint64(*last) == n
	names := s.Tables()
	if len(tables) > 0 {
		for _, want := range tables {
			if !slices.Contains(names, want) {
				return fmt.Errorf("snapshot table %s: %w", want, ErrNotFound)
			}
		}
		names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(tables, n) })
	}
	for _, name := range names {
		t := s.table(name)
		err := s.snapshotTable(ctx, tx, t, n, latest, pageRows, func(t *tableInfo, rows []state.Row, nums []uint64) error {
			return fn(SnapshotPage{Table: t.Name, KeyField: t.KeyField, Fields: t.Fields, Rows: rows, Nums: nums})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// snapshotTable reads the latest state of every row of t as of block n (its versions merged,
// as the main table merges them), in pages of pageRows (0: one page). With latest, block n is
// the last stored one and the main table is read directly.
func (s *Store) snapshotTable(ctx context.Context, q querier, t *tableInfo, n uint64, latest bool, pageRows int, fn func(*tableInfo, []state.Row, []uint64) error) error {
	var sql string
	if latest || t.Ledger {
		sql = fmt.Sprintf("SELECT %s FROM %s WHERE %s <= $1 ORDER BY %s", selectList(t), qualified(t.Main), ident(colNum), ident(colID))
	} else {
		sql = mergedVersions(t, "<= $1") + " ORDER BY " + ident(colID)
	}
	rows, err := q.Query(ctx, sql, int64(n))
	if err != nil {
		return fmt.Errorf("snapshot table %s as of block %d: %w", t.Name, n, err)
	}
	var page []state.Row
	var nums []uint64
	err = scanRows(rows, t, func(r state.Row, num uint64) error {
		page, nums = append(page, r), append(nums, num)
		if pageRows > 0 && len(page) >= pageRows {
			err := fn(t, page, nums)
			page, nums = nil, nil
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("snapshot table %s as of block %d: %w", t.Name, n, err)
	}
	if len(page) > 0 {
		return fn(t, page, nums)
	}
	return nil
}
