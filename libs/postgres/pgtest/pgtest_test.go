package pgtest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
)

func TestMain(m *testing.M) { Main(m) }

func currentDatabase(t *testing.T, dsn string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	defer conn.Close(t.Context())
	var name string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("query current database: %v", err)
	}
	return name
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var n int
	err := shared.admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
	if err != nil {
		t.Fatalf("look up database %s: %v", name, err)
	}
	return n == 1
}

func TestNewDBGivesDistinctDatabasesDroppedAfterTest(t *testing.T) {
	t.Parallel()
	var names []string
	t.Run("create", func(t *testing.T) {
		a, b := currentDatabase(t, NewDB(t)), currentDatabase(t, NewDB(t))
		if a == b {
			t.Fatalf("two NewDB calls gave the same database %s", a)
		}
		for _, n := range []string{a, b} {
			if !databaseExists(t, n) {
				t.Errorf("database %s missing while its test runs", n)
			}
		}
		names = []string{a, b}
	})
	for _, n := range names {
		if databaseExists(t, n) {
			t.Errorf("database %s still exists after its test ended", n)
		}
	}
}

func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	a, b := NewPool(t), NewPool(t)
	if _, err := a.Exec(t.Context(), "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	for _, tc := range []struct {
		name string
		want bool
		pool interface {
			QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		}
	}{
		{"own database sees it", true, a},
		{"other database does not", false, b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var found bool
			if err := tc.pool.QueryRow(t.Context(), "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&found); err != nil {
				t.Fatalf("look up table: %v", err)
			}
			if found != tc.want {
				t.Errorf("table only_in_a visible = %v, want %v", found, tc.want)
			}
		})
	}
}

func TestNewPoolClosedAfterTest(t *testing.T) {
	t.Parallel()
	var stat func() int32
	t.Run("use", func(t *testing.T) {
		pool := NewPool(t)
		if err := pool.Ping(t.Context()); err != nil {
			t.Fatalf("ping: %v", err)
		}
		stat = func() int32 { return pool.Stat().TotalConns() }
	})
	if n := stat(); n != 0 {
		t.Errorf("pool still has %d connections after its test ended", n)
	}
}

// TestExternalServer drives the BCOSDATA_TEST_DATABASE_URL path, in keyword/value form, against
// the server this binary already uses.
func TestExternalServer(t *testing.T) {
	t.Parallel()
	NewDB(t) // Starts (or skips on) the shared server.
	admin := shared.url
	if shared.cluster != nil {
		admin = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", shared.cluster.Port())
	}
	s := &server{url: admin}
	t.Cleanup(func() { s.close() })
	dsn := s.newDB(t)
	if s.cluster != nil {
		t.Errorf("started a cluster although a server URL was given")
	}
	if got := currentDatabase(t, dsn); !strings.HasPrefix(got, "t_testexternalserver_") {
		t.Errorf("connected to database %q, want a fresh t_testexternalserver_* one", got)
	}
}

// TestSharedClusterTradesDurabilityForSpeed checks the cluster pgtest starts itself runs with
// pglocal's Fast settings.
func TestSharedClusterTradesDurabilityForSpeed(t *testing.T) {
	t.Parallel()
	pool := NewPool(t)
	if shared.cluster == nil {
		t.Skipf("tests use the server of %s, not a cluster of pgtest's", EnvDatabaseURL)
	}
	var fsync, commit string
	if err := pool.QueryRow(t.Context(), "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &commit); err != nil {
		t.Fatalf("query settings: %v", err)
	}
	if fsync != "off" || commit != "off" {
		t.Errorf("fsync = %s, synchronous_commit = %s, want both off", fsync, commit)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"url", "postgres://u:p@db:5432/postgres?sslmode=disable", "postgres://u:p@db:5432/t_x?sslmode=disable"},
		{"url without database", "postgresql://u@db", "postgresql://u@db/t_x"},
		{"keyword value", "host=db user=u dbname=postgres", "host=db user=u dbname=postgres dbname=t_x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDatabase(tc.dsn, "t_x")
			if err != nil {
				t.Fatalf("withDatabase: %v", err)
			}
			if got != tc.want {
				t.Errorf("withDatabase(%q) = %q, want %q", tc.dsn, got, tc.want)
			}
		})
	}
	t.Run("bad url hides password", func(t *testing.T) {
		_, err := withDatabase("postgres://u:s3cret@db:bad/postgres", "t_x")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("withDatabase error = %v, want an error without the password", err)
		}
	})
}

func TestDBName(t *testing.T) {
	valid := regexp.MustCompile(`\A[a-z_][a-z0-9_]{0,62}\z`)
	for _, test := range []string{"TestX", "TestX/sub case", strings.Repeat("TestLong/", 20), "Test/ünï"} {
		a, b := dbName(test), dbName(test)
		if !valid.MatchString(a) {
			t.Errorf("dbName(%q) = %q, not a plain identifier of at most 63 bytes", test, a)
		}
		if a == b {
			t.Errorf("dbName(%q) returned %q twice", test, a)
		}
	}
}

// recordTB records Skipf and Fatalf instead of stopping the test.
type recordTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordTB) Helper()                        {}
func (r *recordTB) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recordTB) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }

func TestUnavailableSkipsOrFailsUnderCI(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ci        bool
		wantFatal bool
	}{
		{"developer machine skips", false, false},
		{"CI fails", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recordTB{TB: t}
			unavailable(r, pglocal.ErrNoBinaries, tc.ci)
			msg := r.skipped
			if tc.wantFatal {
				msg = r.fatal
			}
			if (r.fatal != "") != tc.wantFatal || (r.skipped != "") == tc.wantFatal {
				t.Fatalf("fatal=%q skipped=%q, want fatal=%v", r.fatal, r.skipped, tc.wantFatal)
			}
			for _, want := range []string{"initdb", EnvDatabaseURL} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not mention %s", msg, want)
				}
			}
		})
	}
}
