// Package benchcpu tells apart the processor time a benchmark's processes spend: the process
// under test, the Kafka broker it runs in a child process, and its PostgreSQL server. On a
// production deployment each has machines of its own; on our two shared cores a benchmark must
// report each one's CPU per unit of work beside its wall-clock figures.
//
// Times are read from getrusage and /proc, so they are Linux-only: elsewhere Times.OK is false
// and a benchmark leaves the CPU figures out.
package benchcpu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

// Times is processor time (user + system) used so far.
type Times struct {
	// Self is this process: the code under test and the benchmark's own driver.
	Self time.Duration
	// Broker is the broker child process.
	Broker time.Duration
	// Postgres is the PostgreSQL server's processes (see Read).
	Postgres time.Duration
	// OK is false where /proc cannot be read.
	OK bool
}

// Sub returns t − u: the time used between two readings.
func (t Times) Sub(u Times) Times {
	return Times{Self: t.Self - u.Self, Broker: t.Broker - u.Broker, Postgres: t.Postgres - u.Postgres, OK: t.OK && u.OK}
}

// PerUnit returns d per unit of work in microseconds (0 when n is 0).
func PerUnit(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// Read reads the processor time of this process, of the broker process brokerPID (0: none) and
// of PostgreSQL: the postmaster postmasterPID and its children when it is not 0 (other test
// binaries on the machine run servers of their own, whose processes come and go), else every
// process named postgres. Backends that exited are no longer counted, which a benchmark avoids
// by keeping its connections open for the whole measurement.
func Read(brokerPID, postmasterPID int) Times {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Times{}
	}
	out := Times{Self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return out
	}
	out.OK = true
	for _, path := range stats {
		p, ok := readStat(path)
		switch {
		case !ok:
		case brokerPID != 0 && p.pid == brokerPID:
			out.Broker = p.used
		case postmasterPID != 0 && (p.pid == postmasterPID || p.ppid == postmasterPID):
			out.Postgres += p.used
		case postmasterPID == 0 && p.name == "postgres":
			out.Postgres += p.used
		}
	}
	return out
}

// Postmaster returns the process id of the PostgreSQL server pool talks to, read through a
// backend's parent, for Read. It must run on the same machine as the server.
func Postmaster(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var backend int32
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return 0, fmt.Errorf("read the backend's process id: %w", err)
	}
	p, ok := readStat(fmt.Sprintf("/proc/%d/stat", backend))
	if !ok {
		return 0, fmt.Errorf("read /proc/%d/stat: the server is not on this machine", backend)
	}
	return p.ppid, nil
}

type procStat struct {
	pid, ppid int
	name      string
	used      time.Duration
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux platform Go
// supports.
const clockTicks = 100

// readStat reads a process's id, parent, command name and user+system time from its
// /proc/<pid>/stat.
func readStat(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false // the process ended
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return procStat{}, false
	}
	f := strings.Fields(s[end+2:])
	if len(f) < 13 {
		return procStat{}, false
	}
	pid, err0 := strconv.Atoi(strings.TrimSpace(s[:open]))
	ppid, err1 := strconv.Atoi(f[1])
	utime, err2 := strconv.ParseInt(f[11], 10, 64)
	stime, err3 := strconv.ParseInt(f[12], 10, 64)
	if err0 != nil || err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, name: s[open+1 : end], used: time.Duration(utime+stime) * time.Second / clockTicks}, true
}

// BrokerProfileEnv names a file the broker child writes its CPU profile to (go tool pprof),
// for finding where a benchmark's broker time goes.
const BrokerProfileEnv = "BCOSDATA_BENCH_BROKER_CPUPROFILE"

// brokerEnv carries the broker child's data directory.
const brokerEnv = "BCOSDATA_BENCH_BROKER_DIR"

// ServeBroker is the body of a benchmark's broker process (see StartBroker): it prints the
// broker's address and serves until its standard input closes.
func ServeBroker(opts ...kafkatest.Option) error {
	dir := os.Getenv(brokerEnv)
	if dir == "" {
		return fmt.Errorf("%s is not set: a broker process is started by StartBroker", brokerEnv)
	}
	if path := os.Getenv(BrokerProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("%s: %w", BrokerProfileEnv, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("%s: %w", BrokerProfileEnv, err)
		}
		defer pprof.StopCPUProfile()
	}
	broker, err := kafkatest.StartBroker(append([]kafkatest.Option{kafkatest.WithDataDir(dir)}, opts...)...)
	if err != nil {
		return err
	}
	defer broker.Stop()
	fmt.Printf("broker %s\n", strings.Join(broker.Addrs(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// Broker is a broker running in a child process.
type Broker struct {
	Addrs []string
	PID   int
}

// StartBroker runs this test binary again as a broker process, running the child named
// child (whose body calls ServeBroker), and stops it when the benchmark ends.
func StartBroker(b *testing.B, child string) Broker {
	b.Helper()
	c := StartChild(b, child, []string{brokerEnv + "=" + b.TempDir()}, "broker ")
	return Broker{Addrs: strings.Split(c.Line, ","), PID: c.PID}
}

// Child is a process StartChild started.
type Child struct {
	// Line is the rest of the first line the child printed with the awaited prefix.
	Line string
	PID  int
}

// childEnv names the child a test binary runs as (see Children).
const childEnv = "BCOSDATA_BENCH_CHILD"

// Children are the bodies of a test binary's child processes, by name: a benchmark's (its
// broker, say, so that its processor time is told apart) or a test's (one it kills). A test
// binary that has any declares them in its TestMain, which calls Run first: the children are
// not tests, so a normal test run neither runs nor skips them.
type Children map[string]func() error

// Run runs the child this process was started as (ChildCommand), and exits with its outcome;
// in any other process it returns at once.
func (c Children) Run() {
	name := os.Getenv(childEnv)
	if name == "" {
		return
	}
	body, ok := c[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "benchmark child %q: no such child in this test binary\n", name)
		os.Exit(2)
	}
	if err := body(); err != nil {
		fmt.Fprintf(os.Stderr, "benchmark child %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// ChildCommand is the command that runs this test binary again as the child named child
// (see Children), with env added to this process's environment.
func ChildCommand(child string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+child)
	return cmd
}

// StartChild runs this test binary again as the child process named child (see Children),
// with env added to this process's environment, and returns once the child prints a line
// starting with prefix (its address, say). The child serves until its standard input
// closes, which happens when the benchmark ends; one that does not exit within 10 s then is
// killed.
func StartChild(b *testing.B, child string, env []string, prefix string) Child {
	b.Helper()
	cmd := ChildCommand(child, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	// The child's standard error (its logs, for a service) goes to a file: it may log for as
	// long as the benchmark runs.
	stderr, err := os.CreateTemp(b.TempDir(), "stderr")
	if err != nil {
		b.Fatal(err)
	}
	defer stderr.Close() // the child holds its own copy
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s process: %v", child, err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }() // the child's exit status says nothing here
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := bufio.NewScanner(stdout)
	var printed []string
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return Child{Line: rest, PID: cmd.Process.Pid}
		}
		if len(printed) < 50 {
			printed = append(printed, lines.Text())
		}
	}
	logged, _ := os.ReadFile(stderr.Name())
	if len(logged) > 16<<10 {
		logged = logged[len(logged)-16<<10:]
	}
	b.Fatalf("%s process ended without printing %q: %v\n%s\n%s", child, prefix, lines.Err(), strings.Join(printed, "\n"), logged)
	return Child{}
}

// Process returns the processor time (user + system) the process pid used so far, false when
// it cannot be read (not Linux, or the process ended).
func Process(pid int) (time.Duration, bool) {
	p, ok := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	return p.used, ok
}
