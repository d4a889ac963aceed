package reconcile

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/bizgen"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/publish"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source/sourcetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}

const (
	eventsTopic  = "bcos.chain0.group1.events.v1"
	callsTopic   = "bcos.chain0.group1.calls.v1"
	resultsTopic = "bcos.chain0.group1.reconcile.results.v1"
)

const jobsYAML = `jobs:
  - name: transfers
    source: SOURCE
    pattern: PATTERN
    chain: {contract: Asset, event: Transfer}
    key:
      - {business: 交易哈希, chain: tx_hash, compare: hex}
      - {business: log_index, chain: log_index, compare: numeric}
    fields:
      - {business: 金额, chain: amount, compare: numeric, scale: 2, tolerance: "0.01"}
      - {business: payer, chain: from, compare: case-insensitive}
      - {business: payee, chain: to, compare: address}
      - {business: 时间, chain: block_timestamp_ms, compare: time, format: "yyyy-MM-dd HH:mm:ss", zone: Asia/Shanghai}
      - {business: 备注, chain: memo, compare: trimmed}
    amount: 金额
    window: {zone: Asia/Shanghai, wait: 30s}
    errors: {max_rows: 1}
    retries: {max: 1, backoff: 10ms}
`

// env is a broker, a database and a jobs file.
type env struct {
	t      *testing.T
	broker *kafkatest.Broker
	dsn    string
	jobs   string
	log    *zap.Logger // nil: warnings to the test log

	poolOnce sync.Once
	pool     *pgxpool.Pool // pool0's
}

func newEnv(t *testing.T, source, pattern string) *env {
	t.Helper()
	e := &env{t: t, broker: kafkatest.NewBroker(t), dsn: pgtest.NewDB(t)}
	for _, topic := range []string{eventsTopic, callsTopic, resultsTopic} {
		e.broker.CreateTopic(t, topic, 2, nil)
	}
	e.jobs = filepath.Join(t.TempDir(), "jobs.yaml")
	y := strings.NewReplacer("SOURCE", source, "PATTERN", pattern).Replace(jobsYAML)
	if err := os.WriteFile(e.jobs, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// businessFile writes the business file of 2025-12-05 into dir, made from recs with plan's
// differences, and returns the outcomes it must give.
func (e *env) businessFile(dir string, recs []bizgen.ChainRecord) *bizgen.Expected {
	e.t.Helper()
	var buf bytes.Buffer
	exp, err := bizgen.Generate(&buf, e.job(), recs, plan)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t-20251205.csv"), buf.Bytes(), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return exp
}

func (e *env) job() *job.Job {
	jobs, err := job.Load(e.jobs)
	if err != nil {
		e.t.Fatal(err)
	}
	return &jobs[0]
}

// records makes chain records with memos.
func records(n int) []bizgen.ChainRecord {
	recs := bizgen.SampleRecords(n, 7)
	memos := []string{"工资", "货款 ", "退款", "Transfer 转账"}
	for i, r := range recs {
		r["memo"] = memos[i%len(memos)]
	}
	return recs
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produce publishes the records as export's DecodedEvent messages.
func (e *env) produce(recs []bizgen.ChainRecord) {
	e.t.Helper()
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: e.broker.Addrs(), Topic: eventsTopic})
	defer w.Close()
	var msgs []kafkago.Message
	contract := unhex(e.t, "0x00000000000000000000000000000000000000aa")
	for _, r := range recs {
		li, _ := strconv.ParseUint(r["log_index"], 10, 32)
		bn, _ := strconv.ParseUint(r["block_number"], 10, 64)
		ts, _ := strconv.ParseUint(r["block_timestamp_ms"], 10, 64)
		ev := &chainv1.DecodedEvent{Chain: "chain0", Group: 1, BlockNumber: bn, BlockTimestampMs: ts, TransactionHash: unhex(e.t, r["tx_hash"]),
			LogIndex: uint32(li), ContractAddress: contract, ContractName: "Asset", EventName: "Transfer",
			EventSignature: "Transfer(address,address,uint256,string)",
			Args: []*chainv1.DecodedArg{
				{Name: "from", Type: "address", Indexed: true, Value: r["from"]},
				{Name: "to", Type: "address", Indexed: true, Value: r["to"]},
				{Name: "amount", Type: "uint256", Value: r["amount"]},
				{Name: "memo", Type: "string", Value: r["memo"]},
			}}
		v, err := proto.Marshal(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		msgs = append(msgs, kafkago.Message{Key: contract, Value: v,
			Headers: kafka.Headers(kafka.ContentTypeProtobuf, string(proto.MessageName(ev)), bn)})
	}
	if err := w.WriteMessages(e.t.Context(), msgs...); err != nil {
		e.t.Fatal(err)
	}
}

// running is a reconcile service running in the test process, with a gRPC client.
type running struct {
	svc      *Service
	client   reconcilev1.ReconcileServiceClient
	evidence reconcilev1.EvidenceServiceClient
	stop     func()
}

func (e *env) start(modify func(*Config)) *running {
	e.t.Helper()
	var cfg Config
	cfg.RegisterFlags(newFlagSet())
	cfg.Kafka = kafka.Flags{Brokers: e.broker.Addrs(), MaxMessageBytes: kafka.DefaultMaxMessageBytes}
	cfg.DB = postgres.Flags{URL: e.dsn}
	cfg.Jobs = e.jobs
	cfg.Poll = 20 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.HeartbeatInterval, cfg.SessionTimeout = kafkatest.HeartbeatInterval, kafkatest.SessionTimeout
	if modify != nil {
		modify(&cfg)
	}
	pool, err := postgres.NewPool(e.dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	log := zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel))
	if e.log != nil {
		log = e.log
	}
	svc, err := New(cfg, app.Deps{Log: log, Pool: pool})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
			conn.Close()
			g.Stop()
			pool.Close()
		})
	}
	e.t.Cleanup(stop)
	return &running{svc: svc, client: reconcilev1.NewReconcileServiceClient(conn), evidence: reconcilev1.NewEvidenceServiceClient(conn), stop: stop}
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("reconcile", flag.ContinueOnError) }

// trigger starts a run (retrying while the service starts) and waits for it to end.
func (r *running) trigger(t *testing.T, req *reconcilev1.TriggerRunRequest) *reconcilev1.Run {
	t.Helper()
	run := await.Value(t, 30*time.Second, "TriggerRun", func() (*reconcilev1.Run, error) {
		resp, err := r.client.TriggerRun(t.Context(), req)
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Fatalf("TriggerRun: %v", err)
		}
		return resp.GetRun(), err
	})
	return r.wait(t, run.GetRunId())
}

func (r *running) wait(t *testing.T, id string) *reconcilev1.Run {
	t.Helper()
	return await.Value(t, 60*time.Second, "run "+id+" to end", func() (*reconcilev1.Run, error) {
		resp, err := r.client.GetRun(t.Context(), &reconcilev1.GetRunRequest{RunId: id})
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("GetRun: %v", err)
			}
			return nil, err
		}
		switch s := resp.GetRun().GetState(); s {
		case reconcilev1.RunState_RUN_STATE_SUCCEEDED, reconcilev1.RunState_RUN_STATE_FAILED:
			return resp.GetRun(), nil
		default:
			return nil, fmt.Errorf("state %s", s)
		}
	})
}

// results reads every result of a run, pageSize at a time.
func (r *running) results(t *testing.T, id string, pageSize int32) []*reconcilev1.Result {
	t.Helper()
	var out []*reconcilev1.Result
	token := ""
	for {
		resp, err := r.client.ListResults(t.Context(), &reconcilev1.ListResultsRequest{RunId: id, PageSize: pageSize, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetResults()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

var outcomeNames = map[reconcilev1.Outcome]bizgen.Outcome{
	reconcilev1.Outcome_OUTCOME_MATCHED:               bizgen.Matched,
	reconcilev1.Outcome_OUTCOME_MISMATCHED:            bizgen.Mismatched,
	reconcilev1.Outcome_OUTCOME_MISSING_ON_CHAIN:      bizgen.MissingOnChain,
	reconcilev1.Outcome_OUTCOME_MISSING_IN_BUSINESS:   bizgen.MissingInBusiness,
	reconcilev1.Outcome_OUTCOME_DUPLICATE_IN_BUSINESS: bizgen.DuplicateInBusiness,
	reconcilev1.Outcome_OUTCOME_DUPLICATE_ON_CHAIN:    "duplicate_on_chain",
	reconcilev1.Outcome_OUTCOME_MALFORMED:             bizgen.Malformed,
}

// check compares a run's results and totals, read over the API, with bizgen's expectations.
func (r *running) check(t *testing.T, run *reconcilev1.Run, exp *bizgen.Expected) {
	t.Helper()
	if run.GetState() != reconcilev1.RunState_RUN_STATE_SUCCEEDED {
		t.Fatalf("run %s: %s %s", run.GetRunId(), run.GetState(), run.GetError())
	}
	var got []bizgen.Expectation
	for _, x := range r.results(t, run.GetRunId(), 7) {
		e := bizgen.Expectation{Outcome: outcomeNames[x.GetOutcome()], Key: x.GetKey(), Line: int(x.GetLine())}
		for _, d := range x.GetDiffs() {
			e.Fields = append(e.Fields, d.GetField())
		}
		if len(e.Key) == 0 {
			e.Key = nil
		}
		got = append(got, e)
	}
	if diff := cmp.Diff(exp.Rows, got); diff != "" {
		t.Errorf("outcomes (-expected +found):\n%s", diff)
	}
	totals := func(tt bizgen.Totals) string {
		return fmt.Sprintf("%d %d %s %s", tt.BusinessRows, tt.ChainRecords, tt.BusinessAmount, tt.ChainAmount)
	}
	gotTotals := func(tt *reconcilev1.Totals) string {
		return fmt.Sprintf("%d %d %s %s", tt.GetBusinessRows(), tt.GetChainRecords(), tt.GetBusinessAmount(), tt.GetChainAmount())
	}
	want := map[string]string{"business": totals(exp.Business), "chain": totals(exp.Chain), "duplicate_on_chain": "0 0 0 0"}
	for o, tt := range exp.ByOutcome {
		want[string(o)] = totals(*tt)
	}
	have := map[string]string{"business": gotTotals(run.GetBusiness()), "chain": gotTotals(run.GetChain())}
	for _, o := range run.GetOutcomes() {
		have[string(outcomeNames[o.GetOutcome()])] = gotTotals(o.GetTotals())
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("totals (-expected +found):\n%s", diff)
	}
}

var plan = bizgen.Plan{Changed: 3, WithinTolerance: 2, MissingInFile: 2, Extra: 2, Duplicate: 1, Malformed: 1, Seed: 42}

// TestReconcileFromTheBus produces decoded events, reconciles a generated business file
// against them over the API, and checks outcomes and totals equal bizgen's; a rerun gives the
// same, as a new version; the run summary is published.
func TestReconcileFromTheBus(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, "file://"+dir, "t-{yyyyMMdd}.csv")
	recs := records(80)
	e.produce(recs)
	exp := e.businessFile(dir, recs)
	r := e.start(nil)
	run1 := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"})
	r.check(t, run1, exp)
	run2 := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"})
	r.check(t, run2, exp)
	if run2.GetVersion() != 2 || !run2.GetCurrent() {
		t.Errorf("rerun: version %d current %v", run2.GetVersion(), run2.GetCurrent())
	}
	old, err := r.client.GetRun(t.Context(), &reconcilev1.GetRunRequest{RunId: run1.GetRunId()})
	if err != nil || old.GetRun().GetCurrent() {
		t.Errorf("first version after the rerun: %v %v", old.GetRun().GetCurrent(), err)
	}
	// Filters and paging limits.
	mism, err := r.client.ListResults(t.Context(), &reconcilev1.ListResultsRequest{RunId: run2.GetRunId(), Outcome: reconcilev1.Outcome_OUTCOME_MISMATCHED})
	if err != nil || len(mism.GetResults()) != 3 || mism.GetResults()[0].GetDiffs()[0].GetField() != "金额" {
		t.Errorf("mismatched results: %v %v", mism, err)
	}
	byKey, err := r.client.ListResults(t.Context(), &reconcilev1.ListResultsRequest{RunId: run2.GetRunId(), Key: mism.GetResults()[0].GetKey()})
	if err != nil || len(byKey.GetResults()) != 1 {
		t.Errorf("results by key: %v %v", byKey, err)
	}
	// A run that has not ended lists nothing, though its matching's parts have committed
	// results (here: the first version's, its state turned back for a moment).
	setState := func(state string) {
		t.Helper()
		if _, err := pool0(t, e).Exec(t.Context(), `UPDATE reconcile.runs SET state = $2 WHERE id = $1`, run1.GetRunId(), state); err != nil {
			t.Fatal(err)
		}
	}
	setState("running")
	unended, err := r.client.ListResults(t.Context(), &reconcilev1.ListResultsRequest{RunId: run1.GetRunId()})
	setState("succeeded")
	if err != nil || len(unended.GetResults()) != 0 {
		t.Errorf("results of a run not ended: %d %v, want none", len(unended.GetResults()), err)
	}
	for _, bad := range []*reconcilev1.ListResultsRequest{{RunId: "x"}, {RunId: "1", PageSize: -1}, {RunId: "1", PageToken: "zz"}} {
		if _, err := r.client.ListResults(t.Context(), bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListResults(%v): %v, want InvalidArgument", bad, err)
		}
	}
	if _, err := r.client.TriggerRun(t.Context(), &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "05/12/2025"}); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "business_date") {
		t.Errorf("TriggerRun with a bad date: %v", err)
	}
	// The download has a header line and one line per result.
	stream, err := r.client.DownloadResult(t.Context(), &reconcilev1.DownloadResultRequest{RunId: run2.GetRunId()})
	if err != nil {
		t.Fatal(err)
	}
	var csvText strings.Builder
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		csvText.WriteString(chunk.GetData())
	}
	if lines := strings.Count(csvText.String(), "\n"); lines != len(exp.Rows)+1 {
		t.Errorf("download: %d lines, want %d", lines, len(exp.Rows)+1)
	}
	st, err := r.client.Status(t.Context(), &reconcilev1.StatusRequest{})
	if err != nil || !st.GetHasHeight() || st.GetConsumedHeight() != 179 {
		t.Errorf("status: %v %v", st, err)
	}
	// Each finished run is published, once, with its idempotency key.
	msgs := await.Value(t, 30*time.Second, "two results messages", func() ([]kafkago.Message, error) {
		msgs, err := resultsMessages(t.Context(), e.broker)
		if err == nil && len(msgs) < 2 {
			err = fmt.Errorf("%d messages", len(msgs))
		}
		return msgs, err
	})
	var ids []string
	for _, m := range msgs {
		id, _ := kafka.HeaderValue(m.Headers, publish.HeaderIdempotencyKey)
		ids = append(ids, string(id))
	}
	slices.Sort(ids)
	if want := []string{"transfers/2025-12-05/v1", "transfers/2025-12-05/v2"}; !slices.Equal(ids, want) {
		t.Errorf("results messages %q, want %q", ids, want)
	}
}

// resultsMessages reads every message of the results topic.
func resultsMessages(ctx context.Context, b *kafkatest.Broker) ([]kafkago.Message, error) {
	var out []kafkago.Message
	parts, err := readPartitions(ctx, b.Addrs()[0], resultsTopic)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		conn, err := kafkago.DialLeader(ctx, "tcp", b.Addrs()[0], resultsTopic, p)
		if err != nil {
			return nil, err
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			return nil, err
		}
		if last == 0 {
			continue
		}
		rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Addrs(), Topic: resultsTopic, Partition: p, MaxWait: 100 * time.Millisecond})
		for range last {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				rd.Close()
				return nil, err
			}
			out = append(out, m)
		}
		rd.Close()
	}
	return out, nil
}

func readPartitions(ctx context.Context, addr, topic string) ([]int, error) {
	conn, err := kafkago.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ps, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out, nil
}

// TestResultsPublishedAfterRestart ends a run while the broker is down, stops the service
// with the message still in the outbox (as a process stopped between the commit and the
// publish), brings the broker back and starts the service again: the run's message is
// published then, exactly once here, and the outbox is empty.
func TestResultsPublishedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, "file://"+dir, "t-{yyyyMMdd}.csv")
	// With the broker down the run cannot tell the topics are consumed: it waits the job's
	// window.wait, made short here.
	y, err := os.ReadFile(e.jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.jobs, bytes.Replace(y, []byte("wait: 30s"), []byte("wait: 100ms"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	recs := records(40)
	e.produce(recs)
	exp := e.businessFile(dir, recs)
	r := e.start(nil)
	// Wait until every record is consumed, so the run needs nothing of the broker.
	await.For(t, 30*time.Second, "records consumed", func() error {
		st, err := r.client.Status(t.Context(), &reconcilev1.StatusRequest{})
		if err != nil {
			return err
		}
		if st.GetConsumedHeight() != 139 {
			return fmt.Errorf("consumed height %d", st.GetConsumedHeight())
		}
		return nil
	})
	e.broker.Stop()
	run := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"})
	r.check(t, run, exp)
	pool, err := postgres.NewPool(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	backlog := func() (n int) {
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.outbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := backlog(); n != 1 {
		t.Fatalf("outbox holds %d messages with the broker down, want 1", n)
	}
	r.stop()
	e.broker.Start(t)
	e.start(nil)
	await.For(t, 30*time.Second, "the results message", func() error {
		msgs, err := resultsMessages(t.Context(), e.broker)
		if err == nil && len(msgs) == 0 {
			err = errors.New("none yet")
		}
		return err
	})
	await.True(t, 10*time.Second, "outbox emptied", func() bool { return backlog() == 0 })
	msgs, err := resultsMessages(t.Context(), e.broker)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d results messages, want 1", len(msgs))
	}
	m := msgs[0]
	var got reconcilev1.Run
	if err := proto.Unmarshal(m.Value, &got); err != nil {
		t.Fatal(err)
	}
	id, _ := kafka.HeaderValue(m.Headers, publish.HeaderIdempotencyKey)
	if string(m.Key) != "transfers" || string(id) != "transfers/2025-12-05/v1" || got.GetRunId() != run.GetRunId() ||
		got.GetState() != reconcilev1.RunState_RUN_STATE_SUCCEEDED {
		t.Errorf("message key %q idempotency-key %q run %s state %s; want transfers, transfers/2025-12-05/v1, run %s succeeded",
			m.Key, id, got.GetRunId(), got.GetState(), run.GetRunId())
	}
}

// TestRunLeftRunningCompletesAfterRestart stops the service while a run reads its file (the
// HTTP source hangs), starts it again and checks the run is resumed and completes.
func TestRunLeftRunningCompletesAfterRestart(t *testing.T) {
	var mu sync.Mutex
	var file []byte
	hang := make(chan struct{})
	hanging := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hang
		mu.Unlock()
		if h != nil {
			select {
			case hanging <- struct{}{}:
			default:
			}
			select {
			case <-h:
			case <-r.Context().Done():
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(file)
	}))
	defer srv.Close()
	e := newEnv(t, srv.URL+"/biz", "t-{yyyyMMdd}.csv")
	recs := records(40)
	e.produce(recs)
	var buf bytes.Buffer
	exp, err := bizgen.Generate(&buf, e.job(), recs, plan)
	if err != nil {
		t.Fatal(err)
	}
	file = buf.Bytes()
	r := e.start(nil)
	id := await.Value(t, 30*time.Second, "TriggerRun", func() (string, error) {
		resp, err := r.client.TriggerRun(t.Context(), &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"})
		return resp.GetRun().GetRunId(), err
	})
	<-hanging
	r.stop()
	mu.Lock()
	hang = nil
	mu.Unlock()
	r2 := e.start(nil)
	run := r2.wait(t, id)
	r2.check(t, run, exp)
	if run.GetAttempt() != 2 {
		t.Errorf("attempt %d, want 2 (the interrupted one, then the resumed one)", run.GetAttempt())
	}
}

// TestEveryFormatAndSource reconciles a generated file of each format from each kind of source.
func TestEveryFormatAndSource(t *testing.T) {
	pgtest.SkipIfShort(t)
	sftp := sourcetest.StartSFTP(t)
	ftp := sourcetest.StartFTP(t, t.TempDir())
	s3 := sourcetest.StartS3(t, "biz")
	dir := t.TempDir()
	kinds := []struct {
		name, dir string
		cfg       source.Config
	}{
		{"file", "file://" + dir, source.Config{}},
		{"sftp", sftp.URI(dir + "/sftp"), sftp.Config()},
		{"ftp", ftp.URI("in"), ftp.Config()},
		{"s3", s3.URI("biz", "in"), s3.Config()},
	}
	recs := records(30)
	for _, pattern := range []string{"t-{yyyyMMdd}.csv", "t-{yyyyMMdd}.txt", "t-{yyyyMMdd}.json", "t-{yyyyMMdd}.jsonl", "t-{yyyyMMdd}.xlsx"} {
		for _, k := range kinds {
			t.Run(k.name+" "+pattern, func(t *testing.T) {
				e := newEnv(t, k.dir, pattern)
				e.produce(recs)
				j := e.job()
				var buf bytes.Buffer
				exp, err := bizgen.Generate(&buf, j, recs, plan)
				if err != nil {
					t.Fatal(err)
				}
				tg, err := j.Resolve("2025-12-05")
				if err != nil {
					t.Fatal(err)
				}
				if err := source.New(k.cfg).Put(t.Context(), tg.URI, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
					t.Fatal(err)
				}
				r := e.start(func(c *Config) { c.Source = func(*job.Job) source.Config { return k.cfg } })
				r.check(t, r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"}), exp)
			})
		}
	}
}

// TestJobsOverTheAPI creates, reads, lists, updates and deletes a job over gRPC, and refuses
// invalid ones naming the field.
func TestJobsOverTheAPI(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, "file://"+dir, "t-{yyyyMMdd}.csv")
	recs := records(20)
	e.produce(recs)
	r := e.start(nil)
	list := await.Value(t, 30*time.Second, "ListJobs", func() (*reconcilev1.ListJobsResponse, error) {
		list, err := r.client.ListJobs(t.Context(), &reconcilev1.ListJobsRequest{})
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Fatal(err)
		}
		return list, err
	})
	if len(list.GetJobs()) != 1 || list.GetJobs()[0].GetOrigin() != "file" {
		t.Fatalf("jobs: %v", list)
	}
	// The job's webhook receives the summary of each run that ends.
	hooks := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.Method != http.MethodPost {
			t.Errorf("webhook: %s, %v", r.Method, err)
		}
		hooks <- v
	}))
	defer hook.Close()
	p := list.GetJobs()[0]
	p.Name = "api-transfers"
	p.Pattern = "api-{yyyyMMdd}.csv"
	p.Origin = ""
	p.Webhook = hook.URL + "/reconcile"
	created, err := r.client.CreateJob(t.Context(), &reconcilev1.CreateJobRequest{Job: p})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetJob().GetOrigin() != "api" || created.GetJob().GetFields()[0].GetTolerance() != "0.01" || created.GetJob().GetWebhook() != p.Webhook {
		t.Errorf("created: %v", created.GetJob())
	}
	if _, err := r.client.CreateJob(t.Context(), &reconcilev1.CreateJobRequest{Job: p}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("created twice: %v", err)
	}
	// The API job runs like a file job.
	j := e.job()
	j.Pattern = "api-{yyyyMMdd}.csv"
	var buf bytes.Buffer
	exp, err := bizgen.Generate(&buf, j, recs, bizgen.Plan{Changed: 1, Extra: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api-20251205.csv"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "api-transfers", BusinessDate: "2025-12-05"})
	r.check(t, run, exp)
	select {
	case v := <-hooks:
		if v["job"] != "api-transfers" || v["state"] != "succeeded" || fmt.Sprint(v["run"]) != run.GetRunId() {
			t.Errorf("webhook got %v", v)
		}
	case <-time.After(30 * time.Second):
		t.Error("the webhook got no summary")
	}
	for _, bad := range []string{"ftp://x/hook", "https://user:secret@x/hook", "http:///hook"} {
		b := proto.Clone(p).(*reconcilev1.Job)
		b.Webhook = bad
		if _, err := r.client.UpdateJob(t.Context(), &reconcilev1.UpdateJobRequest{Job: b}); status.Code(err) != codes.InvalidArgument ||
			!strings.Contains(err.Error(), "webhook") {
			t.Errorf("update with webhook %q: %v", bad, err)
		}
	}

	bad := proto.Clone(p).(*reconcilev1.Job)
	bad.Fields[0].Compare = "fuzzy"
	if _, err := r.client.UpdateJob(t.Context(), &reconcilev1.UpdateJobRequest{Job: bad}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "fields[0]") {
		t.Errorf("update with a bad comparator: %v", err)
	}
	p.Schedule = "0 2 * * *"
	p.Webhook = "https://hooks.example.com/reconcile"
	if _, err := r.client.UpdateJob(t.Context(), &reconcilev1.UpdateJobRequest{Job: p}); err != nil {
		t.Fatal(err)
	}
	got, err := r.client.GetJob(t.Context(), &reconcilev1.GetJobRequest{Name: "api-transfers"})
	if err != nil || got.GetJob().GetSchedule() != "0 2 * * *" || got.GetJob().GetWebhook() != "https://hooks.example.com/reconcile" {
		t.Errorf("after update: %v %v", got, err)
	}
	file := proto.Clone(p).(*reconcilev1.Job)
	file.Name = "transfers"
	if _, err := r.client.UpdateJob(t.Context(), &reconcilev1.UpdateJobRequest{Job: file}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("update of a file job: %v", err)
	}
	if _, err := r.client.DeleteJob(t.Context(), &reconcilev1.DeleteJobRequest{Name: "api-transfers"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.GetJob(t.Context(), &reconcilev1.GetJobRequest{Name: "api-transfers"}); status.Code(err) != codes.NotFound {
		t.Errorf("after delete: %v", err)
	}
}

// TestStuckRunIsRetriedThenFails gives a run a source that never answers: each attempt ends at
// the job's timeout, is retried once, and the run fails naming the timeout.
func TestStuckRunIsRetriedThenFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	e := newEnv(t, srv.URL+"/biz", "t-{yyyyMMdd}.csv")
	y, err := os.ReadFile(e.jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.jobs, append(y, "    timeout: 300ms\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.start(nil)
	run := r.trigger(t, &reconcilev1.TriggerRunRequest{Job: "transfers", BusinessDate: "2025-12-05"})
	if run.GetState() != reconcilev1.RunState_RUN_STATE_FAILED || run.GetAttempt() != 2 || !strings.Contains(run.GetError(), "timeout 300ms") {
		t.Errorf("stuck run: %s attempt %d %q", run.GetState(), run.GetAttempt(), run.GetError())
	}
}
