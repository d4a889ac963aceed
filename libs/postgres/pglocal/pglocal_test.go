package pglocal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

// requireBinaries skips t when no PostgreSQL binaries are installed, or fails it under CI,
// where that is a broken setup rather than a developer machine without PostgreSQL.
func requireBinaries(t *testing.T) {
	t.Helper()
	_, err := findBinaries(os.Getenv("PATH"), debianBinGlob, rhelBinGlob)
	if err == nil {
		return
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%v; CI=true requires PostgreSQL", err)
	}
	t.Skipf("%v; install PostgreSQL to run this test", err)
}

// start starts a cluster for t and stops it when t ends.
func start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	requireBinaries(t)
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	return c
}

// queryRow runs sql on url and scans its single row into dest.
func queryRow(t *testing.T, url, sql string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(t.Context())
	if err := conn.QueryRow(t.Context(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s on %s: %v", sql, url, err)
	}
}

func exec1(t *testing.T, url string, sqls ...string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(t.Context())
	for _, sql := range sqls {
		if _, err := conn.Exec(t.Context(), sql); err != nil {
			t.Fatalf("%s on %s: %v", sql, url, err)
		}
	}
}

// persistentDir returns a path, not yet created, for a persistent cluster. When the tests run
// as root, PostgreSQL runs as the postgres OS user, which cannot enter a plain t.TempDir.
func persistentDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(d, "pg")
}

// assertNoRecovery fails t if the server log of the cluster in dir shows crash recovery: a
// persistent cluster must have been shut down cleanly.
func assertNoRecovery(t *testing.T, dir string) {
	t.Helper()
	log, err := os.ReadFile(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatalf("read server log: %v", err)
	}
	if strings.Contains(string(log), "automatic recovery in progress") {
		t.Errorf("server log shows crash recovery, want a clean shutdown before:\n%s", log)
	}
}

// logRecorder collects Logf messages.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
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
		{"nothing", "", []string{filepath.Join(root, "none/*/bin")}, "", ErrNoBinaries},
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

func TestNoBinariesNamesWhatIsMissing(t *testing.T) {
	for _, want := range []string{"initdb", "pg_ctl", "PATH"} {
		if !strings.Contains(ErrNoBinaries.Error(), want) {
			t.Errorf("ErrNoBinaries %q does not mention %s", ErrNoBinaries, want)
		}
	}
}

func TestThrowawayClusterIsRemovedOnStop(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	c, err := Start(t.Context(), Options{Fast: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var one int
	queryRow(t, c.URL("postgres"), "SELECT 1", &one)
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s after Stop: stat error %v, want not exist", c.Dir(), err)
	}
	if conn, err := net.Dial("tcp", c.Addr()); err == nil {
		conn.Close()
		t.Errorf("server still accepts connections on %s after Stop", c.Addr())
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v, want nil", err)
	}
}

func TestPersistentClusterResumes(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	dir := filepath.Join(persistentDir(t), "nested", "pg")
	var first, second logRecorder

	c := start(t, Options{Dir: dir, Logf: first.logf})
	if c.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", c.Dir(), dir)
	}
	url := c.URL("postgres")
	exec1(t, url, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('survives a restart')")
	var sysID int64
	queryRow(t, url, "SELECT system_identifier FROM pg_control_system()", &sysID)
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("persistent cluster gone after Stop: %v", err)
	}

	// Restart on the same, now fixed, port: also shows a fixed free port is honoured.
	c = start(t, Options{Dir: dir, Port: port, Logf: second.logf})
	if c.Port() != port {
		t.Errorf("restarted on port %d, want the fixed port %d", c.Port(), port)
	}
	url = c.URL("postgres")
	var v string
	queryRow(t, url, "SELECT v FROM kept", &v)
	if v != "survives a restart" {
		t.Errorf("row after restart = %q, want %q", v, "survives a restart")
	}
	var sysID2 int64
	queryRow(t, url, "SELECT system_identifier FROM pg_control_system()", &sysID2)
	if sysID2 != sysID {
		t.Errorf("system identifier %d after restart, want %d: the cluster was initialised again", sysID2, sysID)
	}
	assertNoRecovery(t, dir)
	if n := first.count("initialising"); n != 1 {
		t.Errorf("first start logged %d initialising messages, want 1: %q", n, first.msgs)
	}
	if n := second.count("initialising"); n != 0 {
		t.Errorf("second start logged %d initialising messages, want 0: %q", n, second.msgs)
	}
}

func TestFastTradesDurability(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fast bool
		want string
	}{
		{true, "off off off"},
		{false, "on on on"},
	} {
		t.Run(fmt.Sprintf("fast=%v", tc.fast), func(t *testing.T) {
			t.Parallel()
			c := start(t, Options{Fast: tc.fast})
			var got string
			queryRow(t, c.URL("postgres"), "SELECT concat_ws(' ', current_setting('fsync'), "+
				"current_setting('synchronous_commit'), current_setting('full_page_writes'))", &got)
			if got != tc.want {
				t.Errorf("fsync synchronous_commit full_page_writes = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSharedBuffersOverridesFast checks that Options.SharedBuffers sizes the server's buffers,
// Fast's 32MB included.
func TestSharedBuffersOverridesFast(t *testing.T) {
	t.Parallel()
	c := start(t, Options{Fast: true, SharedBuffers: "48MB"})
	var got string
	queryRow(t, c.URL("postgres"), "SELECT current_setting('shared_buffers')", &got)
	if got != "48MB" {
		t.Errorf("shared_buffers = %q, want 48MB", got)
	}
}

func TestCreateDatabaseIsIdempotent(t *testing.T) {
	t.Parallel()
	c := start(t, Options{Fast: true})
	const name = "Demo-DB" // Needs quoting as an identifier.
	for i := range 2 {
		if err := c.CreateDatabase(t.Context(), name); err != nil {
			t.Fatalf("CreateDatabase call %d: %v", i+1, err)
		}
	}
	var got string
	queryRow(t, c.URL(name), "SELECT current_database()", &got)
	if got != name {
		t.Errorf("connected to database %q, want %q", got, name)
	}
}

func TestTakenFixedPortIsNamed(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	dir := persistentDir(t)
	c, err := Start(t.Context(), Options{Dir: dir, Port: port, Fast: true})
	if err == nil {
		c.Stop()
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("Start on taken port %d: error %q, want ErrPortInUse naming the port", port, err)
	}
	// The failed start released the directory: a start on a free port works.
	start(t, Options{Dir: dir, Fast: true})
}

func TestRootNeedsDirReachableByPostgresUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("PostgreSQL runs as the postgres OS user only when started by root")
	}
	requireBinaries(t)
	dir := filepath.Join(t.TempDir(), "pg") // t.TempDir is private to root.
	c, err := Start(t.Context(), Options{Dir: dir, Fast: true})
	if err == nil {
		c.Stop()
		t.Fatalf("Start in %s, out of the postgres user's reach, succeeded", dir)
	}
	for _, want := range []string{dir, "postgres OS user"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start in an unreachable directory: error %q does not mention %q", err, want)
		}
	}
}

func TestDirInUse(t *testing.T) {
	t.Parallel()
	dir := persistentDir(t)
	running := start(t, Options{Dir: dir, Fast: true})

	_, err := Start(t.Context(), Options{Dir: dir, Fast: true})
	if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("second Start on %s: error %v, want ErrDirInUse naming process %d", dir, err, os.Getpid())
	}
	// The refused start must leave the running server alone.
	var one int
	queryRow(t, running.URL("postgres"), "SELECT 1", &one)
}

// TestPostmasterPID covers a postmaster.pid left in a persistent directory by a server that
// was killed rather than stopped: a dead PID must not prevent a start, a live one must.
func TestPostmasterPID(t *testing.T) {
	t.Parallel()
	dir := persistentDir(t)
	c := start(t, Options{Dir: dir, Fast: true})
	exec1(t, c.URL("postgres"), "CREATE TABLE kept (v int)", "INSERT INTO kept VALUES (7)")
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	real, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// writePID leaves the file a killed server would have left, but naming pid. Readable by
	// all, since the server may run as the postgres user.
	writePID := func(t *testing.T, pid int) {
		_, rest, _ := strings.Cut(string(real), "\n")
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"+rest), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("live process", func(t *testing.T) {
		holder := exec.Command("cat")
		if _, err := holder.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { holder.Process.Kill(); holder.Wait() }()
		writePID(t, holder.Process.Pid)
		_, err := Start(t.Context(), Options{Dir: dir, Fast: true})
		pid := strconv.Itoa(holder.Process.Pid)
		if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), "PID "+pid) ||
			!strings.Contains(err.Error(), "still running") {
			t.Errorf("Start over a live postmaster.pid: error %v, want ErrDirInUse saying PID %s is still running", err, pid)
		}
	})

	t.Run("dead process", func(t *testing.T) {
		gone := exec.Command("true")
		if err := gone.Run(); err != nil { // Run reaps it: its PID is truly free.
			t.Fatal(err)
		}
		writePID(t, gone.ProcessState.Pid())
		c := start(t, Options{Dir: dir, Fast: true})
		var v int
		queryRow(t, c.URL("postgres"), "SELECT v FROM kept", &v)
		if v != 7 {
			t.Errorf("row after start over a stale postmaster.pid = %d, want 7", v)
		}
	})
}

const (
	childEnv    = "BCOSDATA_PGLOCAL_WATCHDOG_CHILD"
	childDirEnv = "BCOSDATA_PGLOCAL_WATCHDOG_DIR"
)

// TestWatchdogChild is the child process of TestKilledOwnerStopsServer: it starts a cluster,
// reports where, and waits to be killed.
func TestWatchdogChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process for TestKilledOwnerStopsServer")
	}
	c, err := Start(t.Context(), Options{Dir: os.Getenv(childDirEnv), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("cluster %d %s\n", c.Port(), c.Dir())
	io.Copy(io.Discard, os.Stdin) // Until the parent kills us or goes away.
}

// startChild starts TestWatchdogChild with a cluster in dir and returns the cluster's port
// and directory.
func startChild(t *testing.T, dir string) (*exec.Cmd, int, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestWatchdogChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDirEnv+"="+dir)
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
	select {
	case s, ok := <-got:
		if !ok {
			t.Fatal("child exited without starting a cluster")
		}
		return cmd, s.port, s.dir
	case <-time.After(time.Minute):
		t.Fatal("child did not start a cluster within a minute")
	}
	panic("unreachable")
}

func TestKilledOwnerStopsServer(t *testing.T) {
	t.Parallel()
	t.Run("throwaway cluster is stopped and removed", func(t *testing.T) {
		t.Parallel()
		requireBinaries(t)
		cmd, port, dir := startChild(t, "")
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		var one int
		queryRow(t, "postgres://postgres@"+addr+"/postgres?sslmode=disable", "SELECT 1", &one)

		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill child: %v", err)
		}
		cmd.Wait()

		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(time.Minute)
		for {
			_, statErr := os.Stat(dir)
			conn, dialErr := net.Dial("tcp", addr)
			if dialErr == nil {
				conn.Close()
			}
			if errors.Is(statErr, os.ErrNotExist) && dialErr != nil {
				return
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("a minute after the child was killed: directory %s stat error %v, %s dial error %v", dir, statErr, addr, dialErr)
			}
		}
	})

	t.Run("persistent cluster is stopped cleanly and resumes", func(t *testing.T) {
		t.Parallel()
		requireBinaries(t)
		dir := persistentDir(t)
		cmd, port, _ := startChild(t, dir)
		url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		exec1(t, url, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('committed before the kill')")

		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill child: %v", err)
		}
		cmd.Wait()

		// At once, on the same port: Start has to wait for the watchdog to stop the old server,
		// and binding the port shows that server is gone.
		var log logRecorder
		c := start(t, Options{Dir: dir, Port: port, Fast: true, Logf: log.logf})
		var v string
		queryRow(t, c.URL("postgres"), "SELECT v FROM kept", &v)
		if v != "committed before the kill" {
			t.Errorf("row after the owner was killed = %q, want %q", v, "committed before the kill")
		}
		assertNoRecovery(t, dir)
		if n := log.count("initialising"); n != 0 {
			t.Errorf("restart logged %d initialising messages, want 0: %q", n, log.msgs)
		}
	})
}
