package stash_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
)

// cpuTimes is processor time used so far: by this process (the stash and the benchmark), by
// the benchmark's broker process, and by the machine's PostgreSQL server processes.
type cpuTimes struct {
	self, broker, postgres time.Duration
	// ok is false where /proc cannot be read (off Linux).
	ok bool
}

// readCPU reads the processor time of this process, of the broker process brokerPID (0: none)
// and of every process named postgres. Backends that exited are no longer counted, which the
// benchmark avoids by keeping its connections open for the whole measurement.
func readCPU(brokerPID int) cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	out := cpuTimes{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return out
	}
	out.ok = true
	broker := fmt.Sprintf("/proc/%d/stat", brokerPID)
	for _, p := range stats {
		name, used, ok := procCPU(p)
		switch {
		case !ok:
		case p == broker:
			out.broker = used
		case name == "postgres":
			out.postgres += used
		}
	}
	return out
}

// procCPU reads a process's command name and user+system time from its /proc/<pid>/stat.
func procCPU(path string) (name string, used time.Duration, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, false // the process ended
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return "", 0, false
	}
	f := strings.Fields(s[end+2:])
	if len(f) < 13 {
		return "", 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return s[open+1 : end], time.Duration(utime+stime) * time.Second / clockTicks, true
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux platform Go
// supports.
const clockTicks = 100

func (c cpuTimes) sub(d cpuTimes) cpuTimes {
	return cpuTimes{self: c.self - d.self, broker: c.broker - d.broker, postgres: c.postgres - d.postgres, ok: c.ok && d.ok}
}

// The benchmark runs its broker in a child process (this test binary again, running
// TestBenchBrokerChild), so the processor time of the stash, of the broker and of PostgreSQL
// can be told apart: on a production deployment each has machines of its own.
const benchBrokerEnv = "BCOSDATA_BENCH_BROKER_DIR"

// TestBenchBrokerChild is the benchmark's broker process; it does nothing in a normal test run.
// It prints the broker's address and serves until its standard input closes.
func TestBenchBrokerChild(t *testing.T) {
	dir := os.Getenv(benchBrokerEnv)
	if dir == "" {
		t.Skip("the benchmark's broker process; runs only when started by BenchmarkIngest")
	}
	broker := kafkatest.NewBroker(t, kafkatest.WithDataDir(dir))
	fmt.Printf("broker %s\n", strings.Join(broker.Addrs(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// benchBroker is a broker running in a child process.
type benchBroker struct {
	addrs []string
	pid   int
}

// startBenchBroker starts the broker process and stops it when the benchmark ends.
func startBenchBroker(b *testing.B) benchBroker {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchBrokerChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), benchBrokerEnv+"="+b.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start broker process: %v", err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	// The first "broker" line names the address; the child prints it within a second.
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if addrs, ok := strings.CutPrefix(lines.Text(), "broker "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return benchBroker{addrs: strings.Split(addrs, ","), pid: cmd.Process.Pid}
		}
	}
	b.Fatalf("broker process printed no address: %v\n%s", lines.Err(), stderr.String())
	return benchBroker{}
}
