package pgtest

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// errNoPostgres means no PostgreSQL server binaries were found; tests skip rather than fail
// on it outside CI.
var errNoPostgres = errors.New("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin")

// binaries are the PostgreSQL programs pgtest runs. pg_ctl finds the postgres server next to
// its own resolved path.
type binaries struct {
	initdb, pgCtl string
}

// findBinaries looks for initdb and pg_ctl in the directories of pathEnv, then in the
// directories matching globs, preferring the highest version found by the globs.
func findBinaries(pathEnv string, globs ...string) (binaries, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
		// A PATH entry may hold only a symlink to pg_ctl (e.g. /usr/local/bin); its
		// siblings are in the directory it points into.
		if real, err := filepath.EvalSymlinks(filepath.Join(dir, "pg_ctl")); err == nil {
			if b, ok := binariesIn(filepath.Dir(real)); ok {
				return b, nil
			}
		}
	}
	var found []string
	for _, g := range globs {
		matches, _ := filepath.Glob(g) // The patterns are constants; ErrBadPattern cannot happen.
		for _, dir := range matches {
			if _, ok := binariesIn(dir); ok {
				found = append(found, dir)
			}
		}
	}
	if len(found) == 0 {
		return binaries{}, errNoPostgres
	}
	best := slices.MaxFunc(found, func(a, b string) int {
		return cmp.Or(slices.Compare(pathVersion(a), pathVersion(b)), strings.Compare(a, b))
	})
	b, _ := binariesIn(best)
	return b, nil
}

func binariesIn(dir string) (binaries, bool) {
	b := binaries{initdb: filepath.Join(dir, "initdb"), pgCtl: filepath.Join(dir, "pg_ctl")}
	return b, executable(b.initdb) && executable(b.pgCtl)
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

var digits = regexp.MustCompile(`\d+`)

// pathVersion extracts the numbers in a path so that ".../postgresql/15/bin" sorts above
// ".../postgresql/9.6/bin", which plain string order gets wrong.
func pathVersion(path string) []int {
	var v []int
	for _, d := range digits.FindAllString(path, -1) {
		n, _ := strconv.Atoi(d)
		v = append(v, n)
	}
	return v
}

// serverConfig trades durability for speed: a test cluster is thrown away after the run.
const serverConfig = `
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
`

// watchdogScript stops the cluster and deletes its directory once its standard input reaches
// end of file. The test binary holds the only write end of that pipe, so this happens when the
// binary stops the cluster deliberately and also when it dies in any way, even SIGKILL: a
// cluster is never left running by a killed or panicking test run.
const watchdogScript = `read -r line; "$1" -D "$2" stop -m immediate -w -t 60 >/dev/null 2>&1; rm -rf "$3"`

// cluster is a throwaway PostgreSQL cluster in a temporary directory.
type cluster struct {
	bins binaries
	// dir holds the data directory, the server log and the unix socket.
	dir  string
	port int
	cred *syscall.Credential
	// release is the write end of the watchdog's standard input.
	release  *os.File
	watchdog *exec.Cmd
}

// startCluster initialises and starts a cluster on a free loopback port and a fresh directory,
// so a cluster left behind by an earlier run cannot get in the way.
func startCluster(bins binaries) (_ *cluster, err error) {
	c := &cluster{bins: bins}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if c.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	c.dir, err = os.MkdirTemp("", "bcosdata-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(c.dir)
			return nil, fmt.Errorf("hand cluster directory %s to the postgres user: %w", c.dir, err)
		}
	}
	if err := c.startWatchdog(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stop())
		}
	}()

	data := c.dataDir()
	out, err := c.command(bins.initdb, "-D", data, "-U", "postgres", "--auth=trust",
		"--no-sync", "--no-locale", "--encoding=UTF8").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb into %s: %w\n%s", data, err, out)
	}
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		_, err = fmt.Fprintf(conf, serverConfig, strings.ReplaceAll(c.dir, "'", "''"))
		err = errors.Join(err, conf.Close())
	}
	if err != nil {
		return nil, fmt.Errorf("configure cluster in %s: %w", data, err)
	}

	// The free port can be taken between probing and binding; try a few.
	for attempt := 1; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			return nil, err
		}
		logFile := c.logFile()
		os.Remove(logFile) // Only this attempt's log should explain this attempt's failure.
		out, err := c.command(bins.pgCtl, "-D", data, "-l", logFile, "-w", "-t", "60",
			"-o", "-p "+strconv.Itoa(c.port), "start").CombinedOutput()
		if err == nil {
			return c, nil
		}
		log := logTail(logFile)
		if attempt < 3 && strings.Contains(log, "could not bind") {
			continue
		}
		return nil, fmt.Errorf("start postgres on %s: %w\n%s\nserver log:\n%s", c.addr(), err, out, log)
	}
}

// startWatchdog starts the process that stops the cluster when the test binary goes away.
func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create watchdog pipe: %w", err)
	}
	cmd := c.command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", c.bins.pgCtl, c.dataDir(), c.dir)
	cmd.Stdin = r
	// Its own process group, so a Ctrl-C aimed at go test does not kill it before it cleans up.
	cmd.SysProcAttr.Setpgid = true
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("start cluster watchdog: %w", err)
	}
	c.release, c.watchdog = w, cmd
	return nil
}

// stop stops the server immediately and removes its directory.
func (c *cluster) stop() error {
	c.release.Close()
	err := c.watchdog.Wait()
	if err != nil {
		err = fmt.Errorf("stop cluster in %s: %w", c.dir, err)
	}
	// The watchdog, running as the postgres user, may lack the right to remove the directory
	// itself from a root-owned TMPDIR.
	return errors.Join(err, os.RemoveAll(c.dir))
}

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir // The postgres user may not be allowed into the test's working directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

func (c *cluster) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// url returns a connection URL for database db.
func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", c.addr(), db)
}

// postgresUser returns the credentials of the postgres OS user, with no supplementary groups.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("look up the postgres OS user to run PostgreSQL as, since running as root: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of user postgres: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of user postgres: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of the server log, enough to explain a failed start.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	defer f.Close()
	const keep = 4 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > keep {
		_, _ = f.Seek(fi.Size()-keep, io.SeekStart) // best effort: a short read still shows the tail
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
