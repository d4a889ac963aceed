// Package pglocal runs a real PostgreSQL server on 127.0.0.1 from nothing but the installed
// server binaries (initdb and pg_ctl, found on PATH or where distributions put them), for
// tests, demos and developers without Docker.
//
// A cluster is either throwaway (a fresh temporary directory, removed by Stop) or persistent
// (a directory of the caller's, initialised on first use and resumed after). Either way a
// watchdog process stops the server when the process that started it dies, even by SIGKILL,
// so no server outlives its owner; a throwaway directory is then removed too.
//
// The server trusts every local connection as any user: it is for one machine's own use, not
// for anything reachable by others.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrPortInUse means the fixed port asked for in Options.Port is taken.
	ErrPortInUse = errors.New("port already in use")
	// ErrDirInUse means the persistent directory asked for in Options.Dir is in use by another
	// process or a PostgreSQL server that is still running.
	ErrDirInUse = errors.New("directory in use")
)

// Options say where and how to run a cluster. The zero value is a durable throwaway cluster
// on a free port.
type Options struct {
	// Dir holds the cluster: the data directory Dir/data, the server log Dir/postgres.log and
	// the Unix socket. Empty means a fresh temporary directory, removed by Stop. Otherwise the
	// cluster is persistent: Dir is created if missing, initialised unless Dir/data already
	// holds a cluster, and never removed. When running as root, PostgreSQL runs as the
	// postgres OS user, which is given Dir and must be able to reach it.
	Dir string
	// Port is the TCP port to listen on; 0 picks a free one. A taken port is an error
	// (ErrPortInUse), never silently replaced.
	Port int
	// Fast turns off fsync, synchronous_commit and full_page_writes and shrinks shared
	// buffers: much faster, but a crash of the machine can lose or corrupt data. For tests.
	Fast bool
	// SharedBuffers overrides shared_buffers (e.g. "1GB"); empty keeps the default (32MB
	// with Fast).
	SharedBuffers string
	// Logf, if set, receives progress messages such as initialising a cluster.
	Logf func(format string, args ...any)
	// TLSCert and TLSKey, when set, are the server's certificate and key (PEM files): the
	// server then also accepts TLS (ssl = on), for tests of sslmode=verify-full clients. They
	// are copied into the cluster directory.
	TLSCert, TLSKey string
}

// Cluster is a running PostgreSQL server started by Start. Its methods are safe for
// concurrent use.
type Cluster struct {
	bins       binaries
	dir        string
	persistent bool
	fast       bool
	// sharedBuffers is Options.SharedBuffers.
	sharedBuffers string
	tlsCert       string
	tlsKey        string
	port          int
	logf          func(format string, args ...any)
	// cred is the postgres OS user to run the server as, when running as root.
	cred *syscall.Credential
	// lock holds the persistent directory's lock file, locked.
	lock *os.File
	// release is the write end of the watchdog's standard input.
	release  *os.File
	watchdog *exec.Cmd

	stopOnce sync.Once
	stopErr  error
}

// Files and settings inside the cluster directory.
const (
	dataDirName  = "data"
	logFileName  = "postgres.log"
	lockFileName = "pglocal.lock"
	// confFileName is rewritten at every start, so the port and durability asked for this time
	// apply to a resumed cluster too; postgresql.conf includes it last.
	confFileName = "pglocal.conf"
	includeLine  = "include_if_exists = '" + confFileName + "'"
	// stopSeconds bounds pg_ctl stop; a fast shutdown of a small cluster takes well under a
	// second.
	stopSeconds = "60"
	// startSeconds bounds pg_ctl start when ctx has no deadline: generous, since a persistent
	// cluster may need crash recovery first.
	startSeconds = 600
)

// watchdogScript stops the cluster, and deletes a throwaway directory, once its standard input
// reaches end of file. The owning process holds the only write end of that pipe, so this
// happens when it stops the cluster deliberately and also when it dies in any way, even
// SIGKILL. For a persistent cluster the script also holds the directory lock (fd 3) until the
// server is down, so a new run waits for the old server instead of colliding with it.
const watchdogScript = `read -r line; "$1" -D "$2" stop -m "$3" -w -t ` + stopSeconds + ` >/dev/null 2>&1; [ -z "$4" ] || rm -rf "$4"`

// Start initialises the cluster if needed and starts its server, waiting for it to accept
// connections. ctx bounds the start, not the server's life: call Stop to end it.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("start PostgreSQL: port %d is outside 0-65535", opts.Port)
	}
	bins, err := findBinaries(os.Getenv("PATH"), debianBinGlob, rhelBinGlob)
	if err != nil {
		return nil, err
	}
	c := &Cluster{bins: bins, persistent: opts.Dir != "", fast: opts.Fast, sharedBuffers: opts.SharedBuffers, logf: opts.Logf,
		tlsCert: opts.TLSCert, tlsKey: opts.TLSKey}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if c.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	if c.persistent {
		err = c.openDir(ctx, opts.Dir)
	} else {
		err = c.makeTempDir()
	}
	if err != nil {
		return nil, err
	}
	if err := c.startWatchdog(); err != nil {
		return nil, errors.Join(err, c.shutdown(false))
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.shutdown(false))
		}
	}()
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	if err := c.startServer(ctx, opts.Port); err != nil {
		return nil, err
	}
	c.logf("PostgreSQL listening on %s, cluster in %s", c.Addr(), c.dir)
	return c, nil
}

// makeTempDir creates the fresh directory of a throwaway cluster, so a cluster left behind by
// an earlier run cannot get in the way.
func (c *Cluster) makeTempDir() (err error) {
	c.dir, err = os.MkdirTemp("", "bcosdata-pglocal-")
	if err != nil {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	if err := c.chown(c.dir); err != nil {
		return errors.Join(err, os.RemoveAll(c.dir))
	}
	return nil
}

// openDir creates or opens the directory of a persistent cluster and takes its lock, making
// sure no earlier server from it is still running.
func (c *Cluster) openDir(ctx context.Context, dir string) (err error) {
	if c.dir, err = filepath.Abs(dir); err != nil {
		return fmt.Errorf("resolve cluster directory %s: %w", dir, err)
	}
	if _, err := os.Stat(c.dir); errors.Is(err, fs.ErrNotExist) {
		// Parents stay traversable, so the postgres OS user can reach Dir when we are root.
		if err := os.MkdirAll(filepath.Dir(c.dir), 0o755); err != nil {
			return fmt.Errorf("create cluster directory %s: %w", c.dir, err)
		}
		if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cluster directory %s: %w", c.dir, err)
		}
	} else if err != nil {
		return fmt.Errorf("open cluster directory %s: %w", c.dir, err)
	}
	if err := c.lockDir(ctx); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.lock.Close()
		}
	}()
	if err := c.chown(c.dir); err != nil {
		return err
	}
	if c.cred != nil {
		// Fail here, naming the cause, rather than with initdb's or pg_ctl's puzzling errors.
		if err := c.command(ctx, "/bin/sh", "-c", `test -w .`).Run(); err != nil {
			return fmt.Errorf("cluster directory %s: PostgreSQL runs as the postgres OS user when started by root, which cannot enter or write to it (%w): choose a directory that user can reach", c.dir, err)
		}
	}
	return c.checkNotRunning()
}

// selfLockGrace bounds how long a start waits for a lock file that names this very process.
const selfLockGrace = 2 * time.Second

// lockDir takes the lock that makes one process at a time own a persistent cluster. If the
// owner died, its watchdog still holds the lock while it stops the old server: wait for that.
func (c *Cluster) lockDir(ctx context.Context) error {
	path := filepath.Join(c.dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open lock file %s: %w", path, err)
	}
	var tick *time.Ticker
	begin := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("lock %s: %w", path, err)
		}
		b, _ := os.ReadFile(path) // Best effort: an owner that has not written its PID yet reads as 0.
		owner, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		// Our own PID: a cluster of this process released the lock a moment ago, but a child
		// forked by another goroutine can hold a copy of the descriptor until it execs. Give
		// that a moment before concluding the directory is really in use.
		self := owner == os.Getpid() && time.Since(begin) < selfLockGrace
		if owner > 0 && alive(owner) && !self {
			f.Close()
			return fmt.Errorf("start PostgreSQL in %s: %w by process %d, which is still running", c.dir, ErrDirInUse, owner)
		}
		if tick == nil {
			if owner != os.Getpid() {
				c.logf("waiting for the PostgreSQL server of an earlier run in %s to stop", c.dir)
			}
			tick = time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("wait for the earlier PostgreSQL server in %s to stop: %w", c.dir, context.Cause(ctx))
		case <-tick.C:
		}
	}
	// The PID tells a later run whether to wait for us or give up.
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write lock file %s: %w", path, err)
	}
	c.lock = f
	return nil
}

// checkNotRunning fails if postmaster.pid names a live process. PostgreSQL replaces a stale
// postmaster.pid, whose process is gone, by itself; it refuses to start over a live one.
func (c *Cluster) checkNotRunning() error {
	path := filepath.Join(c.dataDir(), "postmaster.pid")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	// Anything but a live PID is left to PostgreSQL, which replaces a stale file and reports a
	// garbled one.
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && pid != os.Getpid() && alive(pid) {
		return c.stillRunning(pid, path)
	}
	return nil
}

// stillRunning reports the live server whose postmaster.pid is at path.
func (c *Cluster) stillRunning(pid int, path string) error {
	return fmt.Errorf("start PostgreSQL in %s: %w: a server (PID %d in %s) is still running from it; stop it with %s -D %s stop -m fast, or delete %s if PID %d is not PostgreSQL",
		c.dir, ErrDirInUse, pid, path, c.bins.pgCtl, c.dataDir(), path, pid)
}

// alive reports whether process pid exists, even if it belongs to another user.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// startWatchdog starts the process that stops the cluster when its owner goes away.
func (c *Cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create watchdog pipe: %w", err)
	}
	removeDir := c.dir
	if c.persistent {
		removeDir = ""
	}
	cmd := c.command(context.Background(), "/bin/sh", "-c", watchdogScript, "pglocal-watchdog",
		c.bins.pgCtl, c.dataDir(), c.stopMode(), removeDir)
	cmd.Stdin = r
	if c.lock != nil {
		cmd.ExtraFiles = []*os.File{c.lock}
	}
	// Its own process group, so a Ctrl-C aimed at the owner does not kill it before it cleans up.
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

// stopMode is how pg_ctl stops the server: fast (a clean shutdown checkpoint) where the data
// is kept, immediate where it is about to be deleted.
func (c *Cluster) stopMode() string {
	if c.persistent {
		return "fast"
	}
	return "immediate"
}

// initdb creates the cluster unless Dir/data already holds one.
func (c *Cluster) initdb(ctx context.Context) error {
	data := c.dataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		c.logf("resuming PostgreSQL cluster in %s", data)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("look for a PostgreSQL cluster in %s: %w", data, err)
	}
	c.logf("initialising PostgreSQL cluster in %s", data)
	// initdb works in a scratch directory renamed into place at the end, so Dir/data only ever
	// holds a complete cluster, however an earlier run was interrupted.
	scratch := data + ".initdb"
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("remove interrupted initdb in %s: %w", scratch, err)
	}
	args := []string{"-D", scratch, "-U", "postgres", "--auth=trust", "--no-locale", "--encoding=UTF8"}
	if c.fast {
		args = append(args, "--no-sync")
	}
	out, err := c.command(ctx, c.bins.initdb, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb into %s: %w\n%s", scratch, err, out)
	}
	if err := os.Rename(scratch, data); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	return nil
}

// writeConfig points postgresql.conf at the pglocal settings and writes them for port.
func (c *Cluster) writeConfig(port int) error {
	pgConf := filepath.Join(c.dataDir(), "postgresql.conf")
	b, err := os.ReadFile(pgConf)
	if err != nil {
		return fmt.Errorf("read %s: %w", pgConf, err)
	}
	if !strings.Contains(string(b), includeLine) {
		f, err := os.OpenFile(pgConf, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = fmt.Fprintf(f, "\n# Settings of pglocal, which rewrites that file at every start.\n%s\n", includeLine)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			return fmt.Errorf("include %s in %s: %w", confFileName, pgConf, err)
		}
	}

	var conf strings.Builder
	conf.WriteString("# Written by pglocal at every start: edits are lost.\n")
	fmt.Fprintf(&conf, "listen_addresses = '127.0.0.1'\nport = %d\n", port)
	// A Unix socket in the cluster directory avoids clashing with a system server's socket; a
	// path too long for a socket address (104 bytes on macOS) gets no socket at all.
	socketDir := c.dir
	if len(socketDir)+len("/.s.PGSQL.65535") >= 104 {
		socketDir = ""
	}
	fmt.Fprintf(&conf, "unix_socket_directories = %s\n", confString(socketDir))
	conf.WriteString("max_connections = 200\n")
	if c.fast {
		conf.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n")
	}
	if c.sharedBuffers != "" {
		fmt.Fprintf(&conf, "shared_buffers = %s\n", confString(c.sharedBuffers))
	}
	if c.tlsCert != "" {
		if err := c.writeTLS(&conf); err != nil {
			return err
		}
	}
	path := filepath.Join(c.dataDir(), confFileName)
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return c.chown(path)
}

// writeTLS copies the server certificate and key into the data directory, owned by the
// server's user (PostgreSQL refuses a key others can read), and turns ssl on.
func (c *Cluster) writeTLS(conf *strings.Builder) error {
	for _, f := range []struct{ from, to string }{{c.tlsCert, "server.crt"}, {c.tlsKey, "server.key"}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return fmt.Errorf("read TLS file: %w", err)
		}
		to := filepath.Join(c.dataDir(), f.to)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", to, err)
		}
		if err := c.chown(to); err != nil {
			return err
		}
	}
	conf.WriteString("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
	return nil
}

// confString quotes s as a postgresql.conf string value.
func confString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// startServer starts the server on port, or on a free port if port is 0.
func (c *Cluster) startServer(ctx context.Context, port int) error {
	data, logFile := c.dataDir(), filepath.Join(c.dir, logFileName)
	// A free port can be taken between probing and binding; try a few.
	for attempt := 1; ; attempt++ {
		c.port = port
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			c.port = p
		} else if err := c.checkPortFree(); err != nil {
			return err
		}
		if err := c.writeConfig(c.port); err != nil {
			return err
		}
		// Only this attempt's part of the log explains this attempt's failure.
		var logStart int64
		if fi, err := os.Stat(logFile); err == nil {
			logStart = fi.Size()
		}
		c.logf("starting PostgreSQL from %s on %s", filepath.Dir(c.bins.pgCtl), c.Addr())
		out, err := c.command(ctx, c.bins.pgCtl, "-D", data, "-l", logFile, "-w",
			"-t", strconv.Itoa(startTimeout(ctx)), "start").CombinedOutput()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("start PostgreSQL on %s: %w", c.Addr(), context.Cause(ctx))
		}
		log := logTail(logFile, logStart)
		if strings.Contains(log, "could not bind") {
			if port != 0 {
				return c.portInUse()
			}
			if attempt < 3 {
				continue
			}
		}
		return fmt.Errorf("start PostgreSQL on %s: %w\n%s\nserver log %s:\n%s", c.Addr(), err, out, logFile, log)
	}
}

// startTimeout is how many seconds pg_ctl start may wait for the server: what is left of
// ctx, else startSeconds.
func startTimeout(ctx context.Context) int {
	deadline, ok := ctx.Deadline()
	if !ok {
		return startSeconds
	}
	return max(1, int(time.Until(deadline).Seconds()+1))
}

// checkPortFree fails clearly if the fixed port is taken, before PostgreSQL fails obscurely.
func (c *Cluster) checkPortFree() error {
	l, err := net.Listen("tcp", c.Addr())
	if errors.Is(err, syscall.EADDRINUSE) {
		return c.portInUse()
	} else if err != nil {
		return fmt.Errorf("check port %d on 127.0.0.1: %w", c.port, err)
	}
	return l.Close()
}

func (c *Cluster) portInUse() error {
	return fmt.Errorf("start PostgreSQL on %s: %w by another program; choose another port, or 0 for a free one", c.Addr(), ErrPortInUse)
}

// Stop stops the server and, for a throwaway cluster, removes its directory. A persistent
// cluster is shut down cleanly and can be started again. Stop is idempotent: later calls
// return the first one's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.logf("stopping PostgreSQL on %s", c.Addr())
		c.stopErr = c.shutdown(true)
	})
	return c.stopErr
}

// shutdown stops the server if running is set, lets the watchdog go and releases the
// directory. After a failed start, running is false and the watchdog stops whatever may have
// started quietly.
func (c *Cluster) shutdown(running bool) error {
	var errs []error
	if running {
		out, err := c.command(context.Background(), c.bins.pgCtl, "-D", c.dataDir(), "stop",
			"-m", c.stopMode(), "-w", "-t", stopSeconds).CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("stop PostgreSQL in %s: %w\n%s", c.dataDir(), err, out))
		}
	}
	if c.watchdog != nil {
		c.release.Close()
		if err := c.watchdog.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop cluster watchdog in %s: %w", c.dir, err))
		}
	}
	if c.persistent {
		// The watchdog's copy of the lock is closed now that it has exited.
		c.lock.Close()
	} else if err := os.RemoveAll(c.dir); err != nil {
		// The watchdog, running as the postgres user, may lack the right to remove the
		// directory itself from a root-owned TMPDIR.
		errs = append(errs, fmt.Errorf("remove cluster directory: %w", err))
	}
	return errors.Join(errs...)
}

// URL returns the connection URL of database db as the postgres superuser, which needs no
// password.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", c.Addr(), url.PathEscape(db))
}

// Addr returns the server's host:port.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Port returns the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Dir returns the directory holding the cluster, as an absolute path.
func (c *Cluster) Dir() string { return c.dir }

// Codes of errors CREATE DATABASE reports when the database exists, or is being created
// concurrently.
const (
	duplicateDatabase = "42P04"
	uniqueViolation   = "23505"
)

// CreateDatabase creates database name unless it already exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL on %s to create database %s: %w", c.Addr(), name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok &&
		(pgErr.Code == duplicateDatabase || pgErr.Code == uniqueViolation) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, dataDirName) }

// command runs a program as the user PostgreSQL runs as.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir // The postgres user may not be allowed into the owner's working directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

// chown gives path to the postgres OS user when running as root.
func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres OS user: %w", path, err)
	}
	return nil
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

// logTail returns the end of the server log written since offset from, enough to explain a
// failed start.
func logTail(path string, from int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	defer f.Close()
	const keep = 4 << 10
	if fi, err := f.Stat(); err == nil {
		from = max(from, fi.Size()-keep)
	}
	_, _ = f.Seek(from, io.SeekStart) // Best effort: a short read still shows the tail.
	b, _ := io.ReadAll(f)
	return string(b)
}
