package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
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
		admin = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", shared.cluster.port)
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
			unavailable(r, errNoPostgres, tc.ci)
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

func TestFindBinaries(t *testing.T) {
	root := t.TempDir()
	install := func(dir string, names ...string) string {
		dir = filepath.Join(root, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	install("lib/postgresql/9.6/bin", "initdb", "pg_ctl")
	v15 := install("lib/postgresql/15/bin", "initdb", "pg_ctl")
	install("lib/postgresql/16/bin", "pg_ctl") // Incomplete: no initdb.
	onPath := install("path", "initdb", "pg_ctl")
	linked := install("linked")
	if err := os.Symlink(filepath.Join(v15, "pg_ctl"), filepath.Join(linked, "pg_ctl")); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(root, "lib/postgresql/*/bin")

	for _, tc := range []struct {
		name    string
		path    string
		globs   []string
		wantDir string
		wantErr error
	}{
		{"PATH first", onPath, []string{glob}, onPath, nil},
		{"symlinked pg_ctl on PATH", linked, nil, v15, nil},
		{"highest complete version", filepath.Join(root, "empty"), []string{glob}, v15, nil},
		{"nothing", "", []string{filepath.Join(root, "none/*/bin")}, "", errNoPostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findBinaries(tc.path, tc.globs...)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("findBinaries error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			want := binaries{initdb: filepath.Join(tc.wantDir, "initdb"), pgCtl: filepath.Join(tc.wantDir, "pg_ctl")}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(binaries{})); diff != "" {
				t.Errorf("findBinaries (-want +got):\n%s", diff)
			}
		})
	}
}

const childEnv = "BCOSDATA_PGTEST_WATCHDOG_CHILD"

// TestWatchdogChild is the child process of TestKilledRunLeavesNoCluster: it starts a cluster,
// reports where, and waits to be killed.
func TestWatchdogChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process for TestKilledRunLeavesNoCluster")
	}
	bins, err := findBinaries(os.Getenv("PATH"), "/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := startCluster(bins)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("cluster %d %s\n", c.port, c.dir)
	io.Copy(io.Discard, os.Stdin) // Until the parent kills us or goes away.
}

func TestKilledRunLeavesNoCluster(t *testing.T) {
	t.Parallel()
	if _, err := findBinaries(os.Getenv("PATH"), "/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"); err != nil {
		ci, _ := strconv.ParseBool(os.Getenv("CI"))
		unavailable(t, err, ci)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestWatchdogChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if _, err := cmd.StdinPipe(); err != nil { // Held open so the child keeps waiting.
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child test process: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	type started struct {
		port int
		dir  string
	}
	got := make(chan started, 1)
	go func() {
		defer close(got)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var s started
			if _, err := fmt.Sscanf(sc.Text(), "cluster %d %s", &s.port, &s.dir); err == nil {
				got <- s
				return
			}
		}
	}()
	var c started
	select {
	case s, ok := <-got:
		if !ok {
			t.Fatal("child exited without starting a cluster")
		}
		c = s
	case <-time.After(time.Minute):
		t.Fatal("child did not start a cluster within a minute")
	}

	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to the child's cluster: %v", err)
	}
	conn.Close(t.Context())

	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	cmd.Wait()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		_, statErr := os.Stat(c.dir)
		conn, dialErr := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.port))
		if dialErr == nil {
			conn.Close()
		}
		if errors.Is(statErr, os.ErrNotExist) && dialErr != nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("a minute after the child was killed: directory %s stat error %v, port %d dial error %v", c.dir, statErr, c.port, dialErr)
		}
	}
}
