package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestReadsGiveWayToLocks holds a lock a writer would (a batch creating partitions holds its
// parent tables' locks until it commits) and checks that an API read gives up with a lock
// conflict instead of queueing behind it (also when the query is new to its connection, whose
// preparation locks the table too), that it reads once the lock is gone, and that the lock
// timeout is the API's own: the pool given to the store, which the writers use, keeps the
// server's.
func TestReadsGiveWayToLocks(t *testing.T) {
	t.Parallel()
	pool, st := openInitialized(t)
	ctx := t.Context()
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.WithoutCancel(ctx)) // a no-op once rolled back below
	if _, err := holder.Exec(ctx, `LOCK TABLE export.blocks IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	// Bounded: a read that waited for the lock would end here with the deadline instead.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, _, err = st.Blocks(rctx, store.Span{}, store.Page{Limit: 10})
	if !store.IsLockConflict(errors.Unwrap(err)) && !store.IsLockConflict(err) {
		t.Fatalf("a read behind a held lock: got %v, want a lock conflict", err)
	}
	t.Logf("the read gave way after %s", time.Since(began).Round(time.Millisecond))
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Blocks(ctx, store.Span{}, store.Page{Limit: 10}); err != nil {
		t.Fatalf("the read once the lock is gone: %v", err)
	}
	// The writers' pool has the server's lock timeout (none).
	conns, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conns.Release()
	var timeout string
	if err := conns.QueryRow(ctx, `SHOW lock_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "0" {
		t.Fatalf("the writers' pool has lock_timeout %q, want the server's 0", timeout)
	}
}

// TestReadsSurviveLostConnections ends every session of the database, as a server restart or
// a dropped network does, between two reads: the pool pings only connections idle for over a
// second before handing them out, so the second read meets a lost connection, and must
// answer all the same, from another.
func TestReadsSurviveLostConnections(t *testing.T) {
	t.Parallel()
	pool, st := openInitialized(t)
	ctx := t.Context()
	if _, _, err := st.Blocks(ctx, store.Span{}, store.Page{Limit: 10}); err != nil {
		t.Fatalf("the first read: %v", err)
	}
	killer, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Release()
	var ended int
	if err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if ended == 0 {
		t.Fatal("no session of the API's pool to end")
	}
	if _, _, err := st.Blocks(ctx, store.Span{}, store.Page{Limit: 10}); err != nil {
		t.Fatalf("a read after %d sessions ended: %v", ended, err)
	}
}

// openInitialized opens a store on a new database of pgtest's server and initializes it for
// chain0, group 1.
func openInitialized(t *testing.T) (*pgxpool.Pool, *store.Store) {
	t.Helper()
	pool := pgtest.NewPool(t)
	st, err := store.Open(t.Context(), pool, store.DefaultPartitionBlocks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.Init(t.Context(), "chain0", 1, store.Start{}); err != nil {
		t.Fatal(err)
	}
	return pool, st
}
