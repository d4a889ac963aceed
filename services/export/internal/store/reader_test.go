package store_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// roleName is a role of the test's own (roles are cluster-wide), dropped after it.
func roleName(t *testing.T, admin *pgxpool.Pool, suffix string) string {
	t.Helper()
	var db string
	if err := admin.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := strings.ToLower(db)
	if len(role) > 50 {
		role = role[:50]
	}
	role += "_" + suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q := pgx.Identifier{role}.Sanitize()
		_, _ = admin.Exec(ctx, `DROP OWNED BY `+q)
		_, _ = admin.Exec(ctx, `DROP ROLE IF EXISTS `+q)
	})
	return role
}

// poolAs opens a pool on the test database logged in as role; it skips the test when the
// server does not let the role in without a password (an external server).
func poolAs(t *testing.T, dsn, role string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = role
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(t.Context()); err != nil {
		// pgtest's own cluster trusts local logins; an external server may want a password.
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci && os.Getenv(pgtest.EnvDatabaseURL) == "" {
			t.Fatalf("cannot log in as %s on pgtest's own cluster: %v", role, err)
		}
		t.Skipf("cannot log in as %s on the test server: %v", role, err)
	}
	return pool
}

// TestGrantReaderAsAnUnprivilegedExporter runs export's store as a plain role that owns its
// schema but may not create roles, as in production: granting to a role that exists works
// (twice: it is idempotent), covers tables created later, and never lets the reader write;
// asking for a missing role is ErrReaderRole, which names the cause.
func TestGrantReaderAsAnUnprivilegedExporter(t *testing.T) {
	dsn := pgtest.NewDB(t)
	admin, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	exporter, reader := roleName(t, admin, "exporter"), roleName(t, admin, "reader")
	var db string
	if err := admin.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE ROLE ` + pgx.Identifier{exporter}.Sanitize() + ` LOGIN`,
		`GRANT CREATE ON DATABASE ` + pgx.Identifier{db}.Sanitize() + ` TO ` + pgx.Identifier{exporter}.Sanitize(),
		`CREATE ROLE ` + pgx.Identifier{reader}.Sanitize() + ` NOLOGIN`,
	} {
		if _, err := admin.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pool := poolAs(t, dsn, exporter)
	st, err := store.Open(t.Context(), pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	for range 2 {
		if err := st.GrantReader(t.Context(), reader, "dataexport"); err != nil {
			t.Fatalf("GrantReader(%s): %v", reader, err)
		}
	}
	// A table created afterwards, by the exporter, as a typed table would be.
	if _, err := pool.Exec(t.Context(), `CREATE TABLE export.later (a int); INSERT INTO export.later VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	conn, err := admin.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), `SET ROLE `+pgx.Identifier{reader}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), `RESET ROLE`) }()
	for _, q := range []string{`SELECT count(*) FROM export.later`, `SELECT count(*) FROM export.blocks`, `SELECT count(*) FROM export.progress`} {
		var n int
		if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
			t.Errorf("reader: %s: %v", q, err)
		}
	}
	for _, q := range []string{`INSERT INTO export.later VALUES (2)`, `DELETE FROM export.blocks`, `CREATE TABLE export.mine (a int)`} {
		_, err := conn.Exec(t.Context(), q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("reader: %s: got %v, want a permission error", q, err)
		}
	}

	missing := roleName(t, admin, "missing")
	err = st.GrantReader(t.Context(), missing)
	if !errors.Is(err, store.ErrReaderRole) || !strings.Contains(err.Error(), missing) {
		t.Errorf("GrantReader(%s) without CREATEROLE: %v, want ErrReaderRole naming the role", missing, err)
	}
}

// TestGrantReaderCreatesTheRole: with CREATEROLE (here a superuser) a missing role is
// created NOLOGIN.
func TestGrantReaderCreatesTheRole(t *testing.T) {
	pool := pgtest.NewPool(t)
	role := roleName(t, pool, "reader")
	st, err := store.Open(t.Context(), pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	for range 2 {
		if err := st.GrantReader(t.Context(), role); err != nil {
			t.Fatal(err)
		}
	}
	var login, select_ bool
	if err := pool.QueryRow(t.Context(), `SELECT rolcanlogin, has_table_privilege($1, 'export.blocks', 'SELECT') FROM pg_roles WHERE rolname = $1`, role).Scan(&login, &select_); err != nil {
		t.Fatal(err)
	}
	if login || !select_ {
		t.Errorf("role %s: login %v, SELECT on export.blocks %v; want NOLOGIN with SELECT", role, login, select_)
	}
}
