package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

// Each migration records itself in a table without a unique key, so a migration applied twice
// shows up as a duplicate row. Table names are unqualified: they must land in the schema.
var ledgerMigrations = fstest.MapFS{
	"001_init.sql":     {Data: []byte("CREATE TABLE applied (migration int NOT NULL);\nINSERT INTO applied VALUES (1);")},
	"002_second.sql":   {Data: []byte("-- a comment first\nINSERT INTO applied VALUES (2);")},
	"003_third.sql":    {Data: []byte("INSERT INTO applied VALUES (3);\n---- create above / drop below ----\nDELETE FROM applied WHERE migration = 3;")},
	"README.md":        {Data: []byte("not a migration")},
	"shared/x.sql":     {Data: []byte("not a migration either")},
	"004_later.sql.gz": {Data: []byte("ignored")},
}

func withFile(base fstest.MapFS, name, sql string) fstest.MapFS {
	fs := fstest.MapFS{}
	for k, v := range base {
		fs[k] = v
	}
	fs[name] = &fstest.MapFile{Data: []byte(sql)}
	return fs
}

// state reads the migrations recorded in schema.applied and the schema's version.
func state(t *testing.T, pool *pgxpool.Pool, schema string) (applied []int, version int32) {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT migration FROM "+schema+".applied ORDER BY migration")
	if err != nil {
		t.Fatalf("read %s.applied: %v", schema, err)
	}
	for rows.Next() {
		var m int
		if err := rows.Scan(&m); err != nil {
			t.Fatalf("scan %s.applied: %v", schema, err)
		}
		applied = append(applied, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s.applied: %v", schema, err)
	}
	if err := pool.QueryRow(t.Context(), "SELECT version FROM "+schema+".schema_version").Scan(&version); err != nil {
		t.Fatalf("read %s.schema_version: %v", schema, err)
	}
	return applied, version
}

func TestMigrateConcurrentStartsApplyEachMigrationOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	const processes = 8
	pools := make([]*pgxpool.Pool, processes)
	for i := range pools {
		pool, err := pgxpool.New(t.Context(), dsn)
		if err != nil {
			t.Fatalf("open pool %d: %v", i, err)
		}
		t.Cleanup(pool.Close)
		if err := pool.Ping(t.Context()); err != nil {
			t.Fatalf("ping pool %d: %v", i, err)
		}
		pools[i] = pool
	}

	start := make(chan struct{})
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i, pool := range pools {
		wg.Go(func() {
			<-start
			errs[i] = postgres.Migrate(t.Context(), pool, "stash", ledgerMigrations)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate in process %d: %v", i, err)
		}
	}
	applied, version := state(t, pools[0], "stash")
	if diff := cmp.Diff([]int{1, 2, 3}, applied); diff != "" || version != 3 {
		t.Fatalf("after concurrent Migrate: version %d, applied (-want +got):\n%s", version, diff)
	}

	t.Run("rerun is a no-op", func(t *testing.T) {
		if err := postgres.Migrate(t.Context(), pools[1], "stash", ledgerMigrations); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		applied, version := state(t, pools[1], "stash")
		if diff := cmp.Diff([]int{1, 2, 3}, applied); diff != "" || version != 3 {
			t.Errorf("after rerun: version %d, applied (-want +got):\n%s", version, diff)
		}
	})
	t.Run("new migration applies alone", func(t *testing.T) {
		next := withFile(ledgerMigrations, "004_fourth.sql", "INSERT INTO applied VALUES (4);")
		if err := postgres.Migrate(t.Context(), pools[2], "stash", next); err != nil {
			t.Fatalf("Migrate with 004: %v", err)
		}
		applied, version := state(t, pools[2], "stash")
		if diff := cmp.Diff([]int{1, 2, 3, 4}, applied); diff != "" || version != 4 {
			t.Errorf("after 004: version %d, applied (-want +got):\n%s", version, diff)
		}
	})
	t.Run("older binary refuses newer schema", func(t *testing.T) {
		err := postgres.Migrate(t.Context(), pools[3], "stash", ledgerMigrations)
		if !errors.Is(err, postgres.ErrSchemaTooNew) {
			t.Errorf("Migrate with fewer migrations than applied = %v, want ErrSchemaTooNew", err)
		}
	})
}

func TestMigrateBrokenMigrationNamesFileAndKeepsPreviousVersion(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	broken := fstest.MapFS{
		"001_init.sql":   ledgerMigrations["001_init.sql"],
		"002_broken.sql": {Data: []byte("CREATE TABLE half_done (id int);\nINSERT INTO applied VALUES (2);\nSELECT * FROM no_such_table;")},
	}
	err := postgres.Migrate(t.Context(), pool, "export", broken)
	if err == nil {
		t.Fatal("Migrate with a broken migration returned nil")
	}
	var merr *postgres.MigrationError
	if !errors.As(err, &merr) || merr.File != "002_broken.sql" || merr.Schema != "export" {
		t.Fatalf("Migrate error = %#v, want a *MigrationError for export 002_broken.sql", err)
	}
	for _, want := range []string{"002_broken.sql", "no_such_table"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	applied, version := state(t, pool, "export")
	if diff := cmp.Diff([]int{1}, applied); diff != "" || version != 1 {
		t.Errorf("after broken 002: version %d, applied (-want +got):\n%s", version, diff)
	}
	var halfDone bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regclass('export.half_done') IS NOT NULL").Scan(&halfDone); err != nil {
		t.Fatal(err)
	}
	if halfDone {
		t.Error("table export.half_done exists: the failed migration was not rolled back")
	}

	t.Run("fixed migration applies", func(t *testing.T) {
		fixed := withFile(broken, "002_broken.sql", "INSERT INTO applied VALUES (2);")
		if err := postgres.Migrate(t.Context(), pool, "export", fixed); err != nil {
			t.Fatalf("Migrate after fix: %v", err)
		}
		if applied, version := state(t, pool, "export"); version != 2 || len(applied) != 2 {
			t.Errorf("after fix: version %d, applied %v", version, applied)
		}
	})
}

func TestMigrateSchemasAreIndependent(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	two := fstest.MapFS{"001_init.sql": ledgerMigrations["001_init.sql"], "002_second.sql": ledgerMigrations["002_second.sql"]}
	one := fstest.MapFS{"001_init.sql": ledgerMigrations["001_init.sql"]}
	cases := []struct {
		schema string
		fs     fstest.MapFS
		want   []int
	}{
		{"stash", two, []int{1, 2}},
		{"reconcile", one, []int{1}},
	}
	for _, tc := range cases {
		if err := postgres.Migrate(t.Context(), pool, tc.schema, tc.fs); err != nil {
			t.Fatalf("Migrate %s: %v", tc.schema, err)
		}
	}
	for _, tc := range cases {
		applied, version := state(t, pool, tc.schema)
		if diff := cmp.Diff(tc.want, applied); diff != "" || int(version) != len(tc.want) {
			t.Errorf("schema %s: version %d, applied (-want +got):\n%s", tc.schema, version, diff)
		}
	}
	var inPublic bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regclass('public.applied') IS NOT NULL").Scan(&inPublic); err != nil {
		t.Fatal(err)
	}
	if inPublic {
		t.Error("a migration's unqualified table landed in public")
	}
}

func TestMigrateRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		schema   string
		fs       fstest.MapFS
		wantErr  error
		wantFile string
	}{
		{"uppercase schema", "Stash", ledgerMigrations, postgres.ErrInvalidSchema, ""},
		{"injected schema", "stash; DROP TABLE x", ledgerMigrations, postgres.ErrInvalidSchema, ""},
		{"empty schema", "", ledgerMigrations, postgres.ErrInvalidSchema, ""},
		{"no migrations", "stash", fstest.MapFS{"README.md": {}}, postgres.ErrNoMigrations, ""},
		{"comment-only migration", "stash", withFile(ledgerMigrations, "004_empty.sql", "-- nothing yet\n"), nil, "004_empty.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Input is checked before any connection is made, so no pool is needed.
			err := postgres.Migrate(t.Context(), nil, tc.schema, tc.fs)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Migrate = %v, want %v", err, tc.wantErr)
			}
			if tc.wantFile != "" {
				var merr *postgres.MigrationError
				if !errors.As(err, &merr) || merr.File != tc.wantFile {
					t.Errorf("Migrate = %v, want a *MigrationError for %s", err, tc.wantFile)
				}
			}
		})
	}
}

func TestMigrateHonoursContext(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := postgres.Migrate(ctx, pool, "stash", ledgerMigrations); !errors.Is(err, context.Canceled) {
		t.Errorf("Migrate with a cancelled context = %v, want context.Canceled", err)
	}
}
