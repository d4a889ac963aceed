package benchcpu

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestReadCountsThisProcessAndTheNamedOne: processor time this process burns shows in Self,
// in Process of its id, and in the process named as the postmaster (this one: it stands in
// for it; naming the parent, `go test`, made the figure fall whenever another package's test
// binary, one of the parent's children, exited meanwhile).
func TestReadCountsThisProcessAndTheNamedOne(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before := Read(0, os.Getpid())
	own, ok := Process(os.Getpid())
	if !before.OK || !ok {
		t.Fatal("/proc not readable on Linux")
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) { // burn CPU for a bounded time
		x++
	}
	used := Read(0, os.Getpid()).Sub(before)
	if now, _ := Process(os.Getpid()); now-own < 50*time.Millisecond {
		t.Errorf("Process(this one) grew by %s after 200 ms of work", now-own)
	}
	if used.Self < 50*time.Millisecond {
		t.Errorf("Self grew by %s after 200 ms of work (%d loops)", used.Self, x)
	}
	// This process is the "postmaster", so its time counts there too.
	if used.Postgres < used.Self/2 {
		t.Errorf("Postgres (the parent and its children) grew by %s, Self by %s", used.Postgres, used.Self)
	}
	if used.Broker != 0 {
		t.Errorf("Broker = %s with no broker", used.Broker)
	}
}

func TestReadStatParsesANameWithSpaces(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/stat"
	// pid (comm) state ppid ... utime=250 stime=50 at fields 14 and 15.
	line := "4242 (post gres) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	p, ok := readStat(path)
	if !ok || p.pid != 4242 || p.ppid != 17 || p.name != "post gres" || p.used != 3*time.Second {
		t.Fatalf("readStat = %+v, %v", p, ok)
	}
}

func TestPerUnit(t *testing.T) {
	if got := PerUnit(3*time.Millisecond, 1000); got != 3 {
		t.Errorf("PerUnit = %v, want 3 µs", got)
	}
	if PerUnit(time.Second, 0) != 0 {
		t.Error("PerUnit with no work is not 0")
	}
}
