package export_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/benchcpu"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// Load of BenchmarkQueryAPI: requests per second; how long each load runs in all, in slices
// taken in turn with the other loads so that the API and its ceiling meet the same machine.
const (
	apiBenchRate     = 500
	apiBenchDuration = 30 * time.Second
	apiBenchSlice    = 5 * time.Second
	apiBenchWarmup   = 2 * time.Second
)

// BenchmarkQueryAPI measures the query API on the benchmark chain (default 1,000,000
// transactions, BCOSDATA_BENCH_EXPORT_TXS): GetTransaction of random stored transactions and
// ListEvents of Asset's Transfer events with a parameter filter (amount at least the median,
// a page of 20 from a random block), each at 500 requests/s from concurrent clients for 30 s
// in all, p50, p99 and p99.9 latency (target: p99 under 5 ms). Beside each, in the same run
// and in alternating slices of 5 s, the ceiling: the same rate of the query's main SQL run
// directly through pgx; and the machine's floor: the same rate of 8-byte round trips between
// two processes over loopback TCP, which shows how much of a tail this machine adds to any
// request that crosses processes (its virtual processors do stall now and then: on an idle
// machine, one run of 20,000 such round trips had 257 over 5 ms, the next ones 1 to 3).
// Export serves from a process of its own, as it does in production, and the load client
// runs in another (runLoads), so that neither's garbage and goroutines are the other's; the
// CPU each process spends per request is reported: export's, PostgreSQL's, the broker's
// (export publishes its audit trail there) and the load client's.
func BenchmarkQueryAPI(b *testing.B) {
	txs := benchTxs(b)
	dir, blocks := benchExportChain(b, txs)
	broker := benchcpu.StartBroker(b, "broker")
	benchPublish(b, dir, broker.Addrs, blocks)
	file := writeContractsFile(b, false, allContracts...)
	dsn := pgtest.NewDB(b)
	pool, err := postgres.NewPool(dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	run := benchConsume(b, pool, dsn, broker, file, blocks)
	addr, service := serveAPI(b, dsn, broker, file, run.groupID)
	postmaster, err := benchcpu.Postmaster(b.Context(), pool)
	if err != nil {
		b.Fatal(err)
	}

	ctx := b.Context()
	var hashes [][]byte
	rows, err := pool.Query(ctx, `SELECT hash FROM export.transactions ORDER BY random() LIMIT 10000`)
	if err != nil {
		b.Fatal(err)
	}
	if hashes, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil {
		b.Fatal(err)
	}
	reg, err := contract.Load(file, contract.Keccak)
	if err != nil {
		b.Fatal(err)
	}
	var transfer string
	for _, t := range reg.Tables() {
		if t.Contract == "Asset" && t.Signature == "Transfer(address,address,uint256,string)" {
			transfer = "export." + pgx.Identifier{t.Name}.Sanitize()
		}
	}
	var median string
	var top int64
	if err := pool.QueryRow(ctx, `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY amount)::text, max(block_number) FROM `+transfer).Scan(&median, &top); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d transactions, %d blocks; Transfer amount median %s", txs, blocks, median)
	settle(b, pool)

	echo := benchcpu.StartChild(b, "echo", nil, "echo ")
	plan := apiPlan{Addr: addr, DSN: dsn, Hashes: hashes, Transfer: transfer, Median: median, Top: top, Echo: echo.Line,
		Export: service, Broker: broker.PID, Postmaster: postmaster, Results: filepath.Join(b.TempDir(), "loads.json")}
	for b.Loop() {
		for _, l := range runLoads(b, plan) {
			l.report(b)
		}
	}
}

// apiPlan is what BenchmarkQueryAPI's load process needs (passed as a JSON file).
type apiPlan struct {
	Addr, DSN string
	// Hashes are the transactions GetTransaction asks for; Transfer is Asset's Transfer table,
	// Median its median amount (ListEvents' filter) and Top its last block.
	Hashes           [][]byte
	Transfer, Median string
	Top              int64
	// Echo is the address of the loopback echo process (serveEcho).
	Echo string
	// The processes whose processor time is counted.
	Export, Broker, Postmaster int
	// Results is the file the load process writes its loads to.
	Results string
}

// apiLoadEnv names the plan file of BenchmarkQueryAPI's load process.
const apiLoadEnv = "BCOSDATA_BENCH_EXPORT_LOAD"

// runLoads runs the loads of plan in a process of its own and returns what they measured.
// The process runs on one P with Go's system monitor kept from its deep sleep (GODEBUG
// schedtrace, set beyond 24 days, so never printing): 500 requests/s take a fraction of a
// core, and otherwise the load client's idle threads and its monitor, woken afresh for every
// request and polling every 20 µs while one is in flight, took 16 context switches and
// 470 µs of CPU per GetTransaction (at 20k transactions; 2.6 and 224 µs so), time that
// export and PostgreSQL waited for on this machine's two cores. Export and PostgreSQL run as
// they would in production, with their default settings.
func runLoads(b *testing.B, plan apiPlan) []*apiLoad {
	b.Helper()
	path := filepath.Join(b.TempDir(), "plan.json")
	js, err := json.Marshal(plan)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, js, 0o600); err != nil {
		b.Fatal(err)
	}
	benchcpu.StartChild(b, "load", []string{apiLoadEnv + "=" + path, "GOMAXPROCS=1", "GODEBUG=schedtrace=2147483647"}, "loads done")
	js, err = os.ReadFile(plan.Results)
	if err != nil {
		b.Fatal(err)
	}
	var loads []*apiLoad
	if err := json.Unmarshal(js, &loads); err != nil {
		b.Fatal(err)
	}
	return loads
}

// runLoadChild is BenchmarkQueryAPI's load process (runLoads runs this test binary again to
// run it): it runs the loads of the plan it is given, writes them to the plan's results file
// and prints "loads done".
func runLoadChild() error {
	ctx := context.Background()
	js, err := os.ReadFile(os.Getenv(apiLoadEnv))
	if err != nil {
		return err
	}
	var plan apiPlan
	if err := json.Unmarshal(js, &plan); err != nil {
		return err
	}
	cc, err := dialAPI(plan.Addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	// The ceiling reads through a pool of its own, opened now, as export opened its own: the
	// set-up's pool has the backends that did the bulk load, and at 1M those answered the
	// same statement with a p99 of 9 ms where fresh ones, in the same slices, took 3 ms.
	ceiling, err := postgres.NewPool(plan.DSN)
	if err != nil {
		return err
	}
	defer ceiling.Close()
	loads := apiLoads(ctx, plan, exportv1.NewExportServiceClient(cc), ceiling)
	err = measure(loads, len(plan.Hashes), func() apiCPU {
		used := benchcpu.Read(plan.Broker, plan.Postmaster)
		s, _ := benchcpu.Process(plan.Export)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return apiCPU{Export: s, Postgres: used.Postgres, Broker: used.Broker, Client: used.Self, PagedIn: pagedIn(),
			GCs: m.NumGC, GCPause: time.Duration(m.PauseTotalNs), Heap: m.HeapAlloc}
	})
	if err != nil {
		return err
	}
	if js, err = json.Marshal(loads); err != nil {
		return err
	}
	if err := os.WriteFile(plan.Results, js, 0o600); err != nil {
		return err
	}
	fmt.Println("loads done")
	return nil
}

// apiLoads returns BenchmarkQueryAPI's loads: GetTransaction and ListEvents through client,
// each followed by its ceiling through the pool ceiling, then the machine's floor (round
// trips to the echo process). The i-th request of a load asks for the i-th hash of the plan
// (cycling), or lists from a block picked by i.
func apiLoads(ctx context.Context, plan apiPlan, client exportv1.ExportServiceClient, ceiling *pgxpool.Pool) []*apiLoad {
	hashes := plan.Hashes
	from := func(i int) uint64 { return uint64(i*7919) % uint64(plan.Top+1) }
	query := func(sql string, args ...any) error {
		x, err := ceiling.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		x.Close()
		return x.Err()
	}
	echoes := make(chan net.Conn, 4*postgres.DefaultMaxConns)
	return []*apiLoad{
		{What: "GetTransaction", Metric: "getTx", API: true, call: func(i int) error {
			_, err := client.GetTransaction(ctx, &exportv1.GetTransactionRequest{TransactionHash: hexLower(hashes[i%len(hashes)])})
			return err
		}},
		{What: "GetTransaction SQL", Metric: "getTx-sql", call: func(i int) error {
			return query(`SELECT x.*, b.hash, b.time FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number
				WHERE x.hash = $1 ORDER BY x.block_number LIMIT 1`, hashes[i%len(hashes)])
		}},
		{What: "ListEvents", Metric: "listEvents", API: true, call: func(i int) error {
			from := from(i)
			_, err := client.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Asset", Event: "Transfer", FromBlock: &from, PageSize: 20,
				Filters: []*exportv1.ParamFilter{{Param: "amount", Op: exportv1.FilterOp_FILTER_OP_GE, Value: plan.Median}}})
			return err
		}},
		{What: "ListEvents SQL", Metric: "listEvents-sql", call: func(i int) error {
			return query(`SELECT * FROM `+plan.Transfer+` WHERE block_number >= $1 AND amount >= $2::numeric
				ORDER BY block_number, transaction_index, log_index LIMIT 20`, int64(from(i)), plan.Median)
		}},
		{What: "loopback round trip", Metric: "loopback", call: func(int) error { return echoOnce(echoes, plan.Echo) }},
	}
}

// echoOnce sends 8 bytes to the echo process at addr and reads them back, on a connection of
// conns (a new one when none is free, kept in conns after while there is room).
func echoOnce(conns chan net.Conn, addr string) error {
	var c net.Conn
	select {
	case c = <-conns:
	default:
		var err error
		if c, err = net.Dial("tcp", addr); err != nil {
			return err
		}
	}
	msg := make([]byte, 8)
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return err
	}
	if _, err := io.ReadFull(c, msg); err != nil {
		c.Close()
		return err
	}
	select {
	case conns <- c:
	default:
		c.Close()
	}
	return nil
}

// serveEcho is BenchmarkQueryAPI's loopback echo process: it sends back what each
// connection sends it, 8 bytes at a time, until its standard input closes. Its round trips
// at the loads' rate are the machine's floor: two processes waking each other over loopback
// TCP, nothing else.
func serveEcho() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				msg := make([]byte, 8)
				for {
					if _, err := io.ReadFull(c, msg); err != nil {
						return
					}
					if _, err := c.Write(msg); err != nil {
						return
					}
				}
			}()
		}
	}()
	fmt.Println("echo " + lis.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return lis.Close()
}

// measure runs loads (GetTransaction first) as BenchmarkQueryAPI measures them, cpu reading
// the processes' processor time; hashes is how many transactions GetTransaction cycles
// through. What the loads hold at the end is the measurement.
func measure(loads []*apiLoad, hashes int, cpu func() apiCPU) error {
	// A warm-up of each load, not measured: every pooled connection opened and every
	// statement prepared on it, for the API as for its ceiling, and the rows they read in
	// the buffer cache alike.
	for _, l := range loads {
		if err := l.slice(apiBenchWarmup, cpu); err != nil {
			return err
		}
	}
	// Then every sampled transaction once through GetTransaction, which reads all the rows
	// either GetTransaction load reads: the measurement is of a database whose working set is
	// in memory. Without it the first load to ask for a transaction read its pages from disk,
	// and that was always the API's (at 1M, 15-39 MB in its load and none in the ceiling's).
	for i := range hashes {
		if err := loads[0].call(i); err != nil {
			return err
		}
	}
	// Then a burst of each, more at once than either pool holds: an open-loop load meets such
	// a crowd now and then, and the first use of a connection opens it and parses and plans
	// its statements (25-125 ms each, seen in the server's log): without the burst that
	// happened inside the measurement, to the ceiling's pool most of all.
	for _, l := range loads {
		if err := burst(2*postgres.DefaultMaxConns, l.call); err != nil {
			return fmt.Errorf("%s: burst: %w", l.What, err)
		}
	}
	for _, l := range loads {
		l.reset()
	}
	for range apiBenchDuration / apiBenchSlice {
		for _, l := range loads {
			if err := l.slice(apiBenchSlice, cpu); err != nil {
				return err
			}
		}
	}
	return nil
}

// apiCPU is processor time used so far by each process of BenchmarkQueryAPI, and the
// machine's reads from disk (KB paged in, /proc/vmstat's pgpgin): a query whose pages left
// the page cache reads them again, and the machine's latency shows it.
type apiCPU struct {
	Export, Postgres, Broker, Client time.Duration
	PagedIn                          int64
	// The load client's own collector: cycles, stop-the-world time, and the heap it keeps.
	GCs     uint32
	GCPause time.Duration
	Heap    uint64
}

// add returns a with what was used between before and after added; Heap keeps the largest.
func (a apiCPU) add(before, after apiCPU) apiCPU {
	return apiCPU{
		Export: a.Export + after.Export - before.Export, Postgres: a.Postgres + after.Postgres - before.Postgres,
		Broker: a.Broker + after.Broker - before.Broker, Client: a.Client + after.Client - before.Client,
		PagedIn: a.PagedIn + after.PagedIn - before.PagedIn, GCs: a.GCs + after.GCs - before.GCs,
		GCPause: a.GCPause + after.GCPause - before.GCPause, Heap: max(a.Heap, after.Heap),
	}
}

// pagedIn reads the KB this machine paged in from disk since it booted (0 where /proc/vmstat
// cannot be read).
func pagedIn() int64 {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "pgpgin "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// apiLoad is one of BenchmarkQueryAPI's loads and what its slices measured (the load
// process passes it back as JSON).
type apiLoad struct {
	What, Metric string
	API          bool // a call of export's API (else a ceiling or the floor)
	call         func(i int) error
	Took         []time.Duration
	Busy         time.Duration // the wall time of the slices
	Used         apiCPU        // the processor time of the slices
}

func (l *apiLoad) reset() { l.Took, l.Busy, l.Used = l.Took[:0], 0, apiCPU{} }

// slice sends apiBenchRate requests per second for d (open loop: each request in its own
// goroutine at its scheduled time, so a slow answer does not slow the rate) and adds their
// latencies, the wall time and each process's processor time to l.
func (l *apiLoad) slice(d time.Duration, cpu func() apiCPU) error {
	n, first := int(d.Seconds()*apiBenchRate), len(l.Took)
	l.Took = slices.Grow(l.Took, n)[:first+n]
	took := l.Took[first:]
	errs := make(chan error, n)
	var wg sync.WaitGroup
	before := cpu()
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / apiBenchRate)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			began := time.Now()
			if err := l.call(first + i); err != nil {
				errs <- err
			}
			took[i] = time.Since(began)
		})
	}
	wg.Wait()
	l.Busy += time.Since(start)
	after := cpu()
	l.Used = l.Used.add(before, after)
	close(errs)
	if err, failed := <-errs; failed {
		return fmt.Errorf("%s: %w", l.What, err)
	}
	return nil
}

// report logs and reports the load's latency percentiles, rate and processor time per
// request.
func (l *apiLoad) report(b *testing.B) {
	b.Helper()
	took := slices.Clone(l.Took)
	slices.Sort(took)
	n := len(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50, p99, p999 := ms(took[n/2]), ms(took[n*99/100]), ms(took[n*999/1000])
	rate := float64(n) / l.Busy.Seconds()
	over := n - sort.Search(n, func(i int) bool { return took[i] > 5*time.Millisecond })
	alone, runs, longest := slowRuns(l.Took, 5*time.Millisecond)
	b.Logf("%s: %d requests at %.0f/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, %d over 5 ms (%d alone, %d in %d runs of consecutive requests, the longest %d); CPU per request: export %.0f µs, PostgreSQL %.0f µs, broker %.0f µs, load client %.0f µs; %d MB paged in from disk; load client: %d collections, %s stopped, heap up to %d MB",
		l.What, n, rate, p50, p99, p999, over, alone, over-alone, runs, longest, benchcpu.PerUnit(l.Used.Export, n), benchcpu.PerUnit(l.Used.Postgres, n),
		benchcpu.PerUnit(l.Used.Broker, n), benchcpu.PerUnit(l.Used.Client, n), l.Used.PagedIn>>10,
		l.Used.GCs, l.Used.GCPause.Round(time.Microsecond), l.Used.Heap>>20)
	b.ReportMetric(p50, l.Metric+"-p50-ms")
	b.ReportMetric(p99, l.Metric+"-p99-ms")
	b.ReportMetric(p999, l.Metric+"-p99.9-ms")
	if l.API {
		b.ReportMetric(rate, l.Metric+"-req/s")
		b.ReportMetric(benchcpu.PerUnit(l.Used.Export, n), l.Metric+"-export-µs/req")
	}
	b.ReportMetric(benchcpu.PerUnit(l.Used.Postgres, n), l.Metric+"-pg-µs/req")
}

// slowRuns reads took (latencies in the order the requests left) for those over limit: how
// many came alone, how many runs of consecutive ones there were, and the longest run. A stall
// of the machine or of one process makes a run (every request sent meanwhile waits it out);
// a cost some requests pay on their own shows alone.
func slowRuns(took []time.Duration, limit time.Duration) (alone, runs, longest int) {
	cur := 0
	end := func() {
		switch {
		case cur == 1:
			alone++
		case cur > 1:
			runs++
		}
		longest, cur = max(longest, cur), 0
	}
	for _, d := range took {
		if d > limit {
			cur++
		} else {
			end()
		}
	}
	end()
	return alone, runs, longest
}

// settle leaves the database as a running export's is between bursts of writes, so that the
// latencies measured are the queries' and not the aftermath of the bulk load that built the
// chain: the dead tuples of the outbox's publishing vacuumed (else autovacuum starts on them
// mid-measurement), statistics fresh, and the dirty buffers of the load written out (else the
// checkpoint that follows a load of millions of rows competes for the disk with the reads).
func settle(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	took := time.Now()
	for _, q := range []string{`VACUUM (ANALYZE)`, `CHECKPOINT`} {
		if _, err := pool.Exec(b.Context(), q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	b.Logf("VACUUM (ANALYZE) and CHECKPOINT took %s", time.Since(took).Round(time.Millisecond))
}

// burst makes n calls at once.
func burst(n int, call func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = call(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// apiChildEnv carries the arguments of BenchmarkQueryAPI's export process (as JSON).
const apiChildEnv = "BCOSDATA_BENCH_EXPORT_API"

// apiCPUProfileEnv names a file BenchmarkQueryAPI's export process writes its CPU profile to.
const apiCPUProfileEnv = "BCOSDATA_BENCH_EXPORT_API_CPUPROFILE"

// serveAPI runs export in a process of its own, as its command runs in production (with its
// interceptors, metrics and logs; plaintext on loopback), on the stored database and in the
// consumer group that exported it (so it resumes at the end of the topic). It returns the
// address of its API once it serves, and the process's id.
func serveAPI(b *testing.B, dsn string, broker benchcpu.Broker, file, groupID string) (string, int) {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // the child listens there; nothing else on loopback takes a port in between
	args, err := json.Marshal([]string{"-db.url", dsn, "-kafka.brokers", strings.Join(broker.Addrs, ","),
		"-kafka.max-message-bytes", strconv.Itoa(kafka.MaxBlockMessageBytes), "-contracts", file, "-group.id", groupID,
		"-grpc.addr", addr, "-http.addr", "", "-admin.addr", ""})
	if err != nil {
		b.Fatal(err)
	}
	child := benchcpu.StartChild(b, "api", []string{apiChildEnv + "=" + string(args)}, "api ")
	cc, err := dialAPI(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	await.For(b, 5*time.Minute, "the API to serve", func() error {
		_, err := exportv1.NewExportServiceClient(cc).ListContracts(b.Context(), &exportv1.ListContractsRequest{})
		return err
	})
	return addr, child.PID
}

// dialAPI dials export's API at addr as the services' own clients dial: plaintext (loopback)
// with fixed flow-control windows (app.ClientWindowOptions).
func dialAPI(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append(app.ClientWindowOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
}

// serveAPIChild is BenchmarkQueryAPI's export process (serveAPI runs this test binary again
// to run it): it runs the export command with the arguments the benchmark passes until its
// standard input closes.
func serveAPIChild() error {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(apiChildEnv)), &args); err != nil {
		return fmt.Errorf("%s: %w", apiChildEnv, err)
	}
	if path := os.Getenv(apiCPUProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println("api started")
	if err := export.Command().Run(ctx, args, os.Stderr); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// TestSlowRuns checks how BenchmarkQueryAPI tells stalls (runs of slow requests) from slow
// requests alone.
func TestSlowRuns(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	took := []time.Duration{6 * ms, ms, 6 * ms, 7 * ms, 9 * ms, ms, ms, 6 * ms, ms, 6 * ms, 6 * ms}
	alone, runs, longest := slowRuns(took, 5*ms)
	if alone != 2 || runs != 2 || longest != 3 {
		t.Errorf("slowRuns = %d alone, %d runs, longest %d; want 2, 2, 3", alone, runs, longest)
	}
	if a, r, l := slowRuns(took[1:2], 5*ms); a != 0 || r != 0 || l != 0 {
		t.Errorf("slowRuns of one fast request = %d, %d, %d; want none", a, r, l)
	}
}
