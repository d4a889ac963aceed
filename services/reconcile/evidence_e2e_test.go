package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	libevidence "github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/evidence/chain"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/evidence"
	"github.com/bcosdata/bcosdata/services/stash"
)

// evidenceChain is a live chain for the evidence tests: fiscosim with its JSON-RPC (where
// batch roots are anchored), stash following its binlogs, export decoding Asset and Evidence
// onto events.v1 — all in this process, on the env's broker.
type evidenceChain struct {
	sim      *fiscosim.Sim
	contract common.Address
	keyFile  string
}

func startEvidenceChain(t *testing.T, e *env) *evidenceChain {
	t.Helper()
	e.broker.CreateTopic(t, "bcos.chain0.group1.blocks.v1", 1, map[string]string{"max.message.bytes": strconv.Itoa(kafka.MaxBlockMessageBytes)})
	cfg := simtest.Config(t)
	cfg.Mix, cfg.TPS, cfg.KeepSent = fiscosim.MixClassic, 20, false
	cfg.Clock, cfg.BlockInterval = fiscosim.ClockWall, 50*time.Millisecond
	sim := simtest.Start(t, cfg)
	c := &evidenceChain{sim: sim}
	for _, k := range sim.Contracts() {
		if k.Name == "Evidence" {
			c.contract = common.HexToAddress(k.Address)
		}
	}
	if c.contract == (common.Address{}) {
		t.Fatal("fiscosim deploys no Evidence contract")
	}
	startService(t, "stash", func() (app.Service, error) {
		scfg := stash.DefaultConfig()
		scfg.Sources = app.StringList{"file://" + sim.BinlogDir()}
		scfg.Crypto = "ecdsa"
		scfg.Partitions = 1
		scfg.Kafka = kafka.Flags{Brokers: e.broker.Addrs(), MaxMessageBytes: kafka.MaxBlockMessageBytes}
		scfg.DB = postgres.Flags{URL: pgtest.NewDB(t)}
		scfg.CacheDir = t.TempDir()
		scfg.Poll = 20 * time.Millisecond
		return stash.New(scfg, app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: prometheus.NewRegistry()})
	})
	cdir := t.TempDir()
	simtest.WriteContracts(t, cdir, false, "Asset", "Evidence")
	y := "contracts:\n"
	for _, n := range []string{"Asset", "Evidence"} {
		y += fmt.Sprintf("  - name: %s\n    abi: %s.abi.json\n    bin: %s.bin\n    learn: true\n", n, n, n)
	}
	contracts := filepath.Join(cdir, "contracts.yaml")
	if err := os.WriteFile(contracts, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	exportPool, err := postgres.NewPool(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(exportPool.Close)
	startService(t, "export", func() (app.Service, error) {
		var ecfg export.Config
		ecfg.RegisterFlags(newFlagSet())
		ecfg.Kafka = kafka.Flags{Brokers: e.broker.Addrs(), MaxMessageBytes: kafka.MaxBlockMessageBytes}
		ecfg.Contracts = contracts
		ecfg.Partitions = 2
		ecfg.RetryMin, ecfg.RetryMax = 50*time.Millisecond, 500*time.Millisecond
		ecfg.HeartbeatInterval, ecfg.SessionTimeout = kafkatest.HeartbeatInterval, kafkatest.SessionTimeout
		return export.New(ecfg, app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: prometheus.NewRegistry(), Pool: exportPool})
	})
	// The anchoring account: a fresh key in a key file, as -evidence.key reads it.
	key, err := cryptosuite.ECDSA().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.keyFile = filepath.Join(t.TempDir(), "anchor.key")
	if err := os.WriteFile(c.keyFile, []byte(hex.EncodeToString(key.Bytes())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// flags are the evidence flags of a reconcile on this chain.
func (c *evidenceChain) flags(archive, inbox string) evidence.Flags {
	var f evidence.Flags
	f.RegisterFlags(newFlagSet())
	f.Archive, f.Inbox = "file://"+archive, inbox
	f.BatchSize, f.BatchAge = 1000, 300*time.Millisecond
	f.RPC, f.Key, f.Contract = c.sim.RPCURL(), c.keyFile, c.contract.Hex()
	f.Resend = 5 * time.Second
	return f
}

// publisher signs records for the tests.
type publisher struct {
	name string
	key  *cryptosuite.PrivateKey
}

func newPublisher(t testing.TB, name string) *publisher {
	k, err := cryptosuite.ECDSA().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{name: name, key: k}
}

func (p *publisher) sign(t testing.TB, r *libevidence.Record) *reconcilev1.EvidenceRecord {
	if err := libevidence.Sign(cryptosuite.ECDSA(), p.key, r); err != nil {
		t.Fatal(err)
	}
	return evidence.RecordToProto(r)
}

func (p *publisher) record(t testing.TB, id string) *reconcilev1.EvidenceRecord {
	r := libevidence.Record{ID: id, Publisher: p.name, Category: "invoice", Kind: libevidence.KindPublish}
	r.SetPayload(libevidence.PayloadJSON, []byte(fmt.Sprintf(`{"invoice":%q,"amount":"%d.00"}`, id, len(id)*7)))
	return p.sign(t, &r)
}

func (p *publisher) registration(t testing.TB) *reconcilev1.EvidenceRecord {
	pub := p.key.PublicKey()
	r := libevidence.Record{ID: "publisher/" + p.name, Publisher: p.name, Category: "publisher", Kind: libevidence.KindPublisher}
	r.SetPayload(libevidence.PayloadJSON, []byte(`{"suite":"ecdsa","public_key":"0x`+pub.String()+`"}`))
	return p.sign(t, &r)
}

// publishGRPC publishes ids through PublishRecord with workers in parallel, retrying while
// the service starts.
func publishGRPC(t *testing.T, c reconcilev1.EvidenceServiceClient, p *publisher, ids []string, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += workers {
				rec := p.record(t, ids[i])
				resp, err := c.PublishRecord(t.Context(), &reconcilev1.PublishRecordRequest{Record: rec})
				if err != nil {
					errs <- fmt.Errorf("publish %s: %w", ids[i], err)
					return
				}
				want := libevidence.LeafHash(mustRecord(t, rec))
				if resp.GetLeafHash() != "0x"+hex.EncodeToString(want[:]) {
					errs <- fmt.Errorf("publish %s: leaf hash %s, want 0x%x", ids[i], resp.GetLeafHash(), want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func mustRecord(t testing.TB, p *reconcilev1.EvidenceRecord) *libevidence.Record {
	r, err := evidence.RecordFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// writeInbox writes ids as JSON-lines files of per lines each (renamed in whole).
func writeInbox(t *testing.T, dir string, p *publisher, ids []string, per int) {
	t.Helper()
	for f := 0; f*per < len(ids); f++ {
		var b strings.Builder
		for _, id := range ids[f*per : min(len(ids), (f+1)*per)] {
			j, err := protojson.Marshal(p.record(t, id))
			if err != nil {
				t.Fatal(err)
			}
			b.Write(j)
			b.WriteByte('\n')
		}
		tmp := filepath.Join(dir, fmt.Sprintf(".part-%d", f))
		if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("records-%03d.jsonl", f))); err != nil {
			t.Fatal(err)
		}
	}
}

// produceRecords writes ids to the records.in topic as bare JSON (no headers), the way a
// data team's producer would.
func produceRecords(t *testing.T, brokers []string, p *publisher, ids []string) {
	t.Helper()
	w := kafka.NewWriter(kafka.WriterConfig{Brokers: brokers, Topic: "bcos.chain0.group1.records.in.v1", BatchTimeout: 10 * time.Millisecond})
	defer w.Close()
	msgs := make([]kafkago.Message, 0, len(ids))
	for _, id := range ids {
		j, err := protojson.Marshal(p.record(t, id))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafkago.Message{Key: []byte(id), Value: j})
	}
	for len(msgs) > 0 {
		n := min(500, len(msgs))
		if err := w.WriteMessages(t.Context(), msgs[:n]...); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%06d", prefix, i)
	}
	return out
}

// anchoredCount counts the records whose batch is anchored.
func anchoredCount(t *testing.T, r *running) int {
	var n int
	if err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_records rec
		JOIN reconcile.evidence_batches b ON b.number = rec.batch WHERE b.state = 'anchored'`).Scan(&n); err != nil {
		t.Logf("count anchored: %v", err)
	}
	return n
}

func evidenceRecords() int {
	if n, err := strconv.Atoi(os.Getenv("BCOSDATA_E2E_EVIDENCE_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// TestEvidenceEndToEnd publishes signed records through PublishRecord, the inbox and the
// records.in topic (a third each) to a reconcile anchoring on fiscosim, and waits until every
// record's batch is anchored — confirmed by its EvidenceStored event through stash → export →
// events.v1. The proof of every tenth record verifies on chain (libs/evidence/chain against
// fiscosim's JSON-RPC); a proof with its record, path, root or anchor altered does not. Bad
// records are refused with their reason and leave nothing behind.
func TestEvidenceEndToEnd(t *testing.T) {
	pgtest.SkipIfShort(t)
	began := time.Now()
	e := newEnv(t, "file://"+t.TempDir(), "x-{yyyyMMdd}.csv")
	ch := startEvidenceChain(t, e)
	archive, inbox := t.TempDir(), t.TempDir()
	r := e.start(func(c *Config) {
		c.Jobs = ""
		c.Evidence = ch.flags(archive, inbox)
	})
	c := r.evidence
	alice := newPublisher(t, "alice")
	await.True(t, 30*time.Second, "RegisterPublisher answers", func() bool {
		_, err := c.RegisterPublisher(t.Context(), &reconcilev1.RegisterPublisherRequest{Record: alice.registration(t)})
		return err == nil
	})

	n := evidenceRecords()
	third := n / 3
	all := ids("rec", n)
	viaGRPC, viaInbox, viaKafka := all[:third], all[third:2*third], all[2*third:]
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); writeInbox(t, inbox, alice, viaInbox, 1000) }()
	go func() {
		defer wg.Done()
		// One refused record among the good ones: it is dead-lettered with its reason.
		bad := alice.record(t, "kafka-bad-signature")
		bad.Signature = bad.Signature[:10] + strings.Repeat("0", 8) + bad.Signature[18:]
		j, _ := protojson.Marshal(bad)
		w := kafka.NewWriter(kafka.WriterConfig{Brokers: e.broker.Addrs(), Topic: "bcos.chain0.group1.records.in.v1", BatchTimeout: 10 * time.Millisecond})
		if err := w.WriteMessages(t.Context(), kafkago.Message{Key: []byte("bad"), Value: j}); err != nil {
			t.Error(err)
		}
		w.Close()
		produceRecords(t, e.broker.Addrs(), alice, viaKafka)
	}()
	publishGRPC(t, c, alice, viaGRPC, 8)
	wg.Wait()
	published := time.Since(began)

	await.True(t, 120*time.Second, fmt.Sprintf("all %d records anchored", n+1), func() bool { return anchoredCount(t, r) == n+1 })
	anchored := time.Since(began)
	dlq := kafkago.NewReader(kafkago.ReaderConfig{Brokers: e.broker.Addrs(), Topic: kafka.DeadLetterTopic("bcos.chain0.group1.records.in.v1"), Partition: 0, MaxWait: 100 * time.Millisecond})
	dctx, dcancel := context.WithTimeout(t.Context(), 20*time.Second)
	m, err := dlq.ReadMessage(dctx)
	dcancel()
	dlq.Close()
	if reason, _ := kafka.HeaderValue(m.Headers, kafka.HeaderDLQError); err != nil || !strings.Contains(string(reason), evidence.ReasonBadSignature) {
		t.Errorf("dead letter of the refused record: %v, reason %q", err, reason)
	}
	if entries, _ := os.ReadDir(inbox); len(entries) != 1 {
		t.Errorf("inbox holds %d entries, want only %s/", len(entries), evidence.ProcessedDir)
	}

	checkSharing(t, e, r, n+1)

	// Every tenth proof, on chain.
	client := dialChain(t, ch.sim)
	var proofs []libevidence.Proof
	for i := 0; i < n; i += 10 {
		resp, err := c.GetProof(t.Context(), &reconcilev1.GetProofRequest{Id: all[i]})
		if err != nil {
			t.Fatalf("GetProof %s: %v", all[i], err)
		}
		var p libevidence.Proof
		if err := json.Unmarshal([]byte(resp.GetProofJson()), &p); err != nil {
			t.Fatalf("proof of %s: %v", all[i], err)
		}
		if err := verifyOnChain(t.Context(), client, &p); err != nil {
			t.Fatalf("proof of %s does not verify on chain: %v", all[i], err)
		}
		proofs = append(proofs, p)
	}
	verified := time.Since(began)
	for name, alter := range map[string]func(p *libevidence.Proof){
		"record": func(p *libevidence.Proof) { p.Record.Category += "x" },
		"path": func(p *libevidence.Proof) {
			if len(p.Path) > 0 {
				p.Path[0][0] ^= 1
			} else {
				p.LeafIndex++
			}
		},
		"root":   func(p *libevidence.Proof) { p.Root[3] ^= 1 },
		"anchor": func(p *libevidence.Proof) { p.Anchor.BlockNumber++ },
	} {
		b, _ := json.Marshal(proofs[len(proofs)/2])
		var p libevidence.Proof
		_ = json.Unmarshal(b, &p)
		alter(&p)
		if err := verifyOnChain(t.Context(), client, &p); err == nil {
			t.Errorf("a proof with its %s altered verifies", name)
		}
	}

	// Bad input: refused with its reason, nothing stored.
	var before int
	if err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_records`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	mallory := newPublisher(t, "mallory")
	bad := alice.record(t, "bad-sig")
	bad.Signature = bad.Signature[:10] + strings.Repeat("0", 8) + bad.Signature[18:]
	expired := libevidence.Record{ID: "expired", Publisher: "alice", Category: "c", Kind: libevidence.KindPublish, NotAfter: time.Now().Add(-time.Hour)}
	expired.SetPayload(libevidence.PayloadJSON, []byte(`1`))
	early := libevidence.Record{ID: "early", Publisher: "alice", Category: "c", Kind: libevidence.KindPublish, NotBefore: time.Now().Add(time.Hour)}
	early.SetPayload(libevidence.PayloadJSON, []byte(`1`))
	big := libevidence.Record{ID: "big", Publisher: "alice", Category: "c", Kind: libevidence.KindPublish}
	big.SetPayload(libevidence.PayloadBytes, make([]byte, 70<<10))
	reused := libevidence.Record{ID: all[0], Publisher: "alice", Category: "other", Kind: libevidence.KindPublish}
	reused.SetPayload(libevidence.PayloadJSON, []byte(`2`))
	for _, tc := range []struct {
		name   string
		rec    *reconcilev1.EvidenceRecord
		code   codes.Code
		reason string
	}{
		{"unknown publisher", mallory.record(t, "m1"), codes.FailedPrecondition, evidence.ReasonUnknown},
		{"bad signature", bad, codes.InvalidArgument, evidence.ReasonBadSignature},
		{"reused id", alice.sign(t, &reused), codes.AlreadyExists, evidence.ReasonIDReused},
		{"expired", alice.sign(t, &expired), codes.FailedPrecondition, evidence.ReasonExpired},
		{"not yet valid", alice.sign(t, &early), codes.FailedPrecondition, evidence.ReasonNotYetValid},
		{"oversized", alice.sign(t, &big), codes.InvalidArgument, evidence.ReasonTooLarge},
	} {
		_, err := c.PublishRecord(t.Context(), &reconcilev1.PublishRecordRequest{Record: tc.rec})
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want %s naming %s", tc.name, err, tc.code, tc.reason)
		}
	}
	var after int
	if err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_records`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("bad input stored %d records", after-before)
	}
	// Listing pages through every record of alice; batches are all anchored.
	seen, token := 0, ""
	for {
		resp, err := c.ListRecords(t.Context(), &reconcilev1.ListRecordsRequest{Publisher: "alice", PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(resp.GetRecords())
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if seen != n+1 {
		t.Errorf("ListRecords of alice: %d records, want %d", seen, n+1)
	}
	if bs, err := c.ListBatches(t.Context(), &reconcilev1.ListBatchesRequest{State: "sent"}); err != nil || len(bs.GetBatches()) != 0 {
		t.Errorf("batches still sent: %v, %v", bs, err)
	}

	// A segment altered in the archive is found by the verification run.
	v, err := c.VerifyEvidence(t.Context(), &reconcilev1.VerifyEvidenceRequest{})
	if err != nil || v.GetVerification().GetState() != "succeeded" {
		t.Fatalf("verification before the alteration: %v, %v", v, err)
	}
	seg := filepath.Join(archive, "chain0-group1-00000001.evseg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	lines[1] = strings.Replace(lines[1], `"category":"`, `"category":"x`, 1)
	if err := os.WriteFile(seg, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err = c.VerifyEvidence(t.Context(), &reconcilev1.VerifyEvidenceRequest{})
	if err != nil || v.GetVerification().GetState() != "failed" || len(v.GetVerification().GetFindings()) != 1 ||
		v.GetVerification().GetFindings()[0].GetKind() != evidence.FindingSegmentAltered || v.GetVerification().GetFindings()[0].GetBatch() != 1 {
		t.Errorf("verification after altering segment 1: %v, %v", v, err)
	}

	t.Logf("%d records: published in %s, all anchored at %s, %d proofs verified on chain at %s",
		n, published.Round(time.Millisecond), anchored.Round(time.Millisecond), len(proofs), verified.Round(time.Millisecond))
}

func dialChain(t *testing.T, sim *fiscosim.Sim) *chain.Node {
	n, err := chain.Dial(sim.RPCURL(), int(sim.GroupID()), cryptosuite.ECDSA())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func verifyOnChain(ctx context.Context, n *chain.Node, p *libevidence.Proof) error {
	return chain.VerifyOnChain(ctx, n, p)
}

// The kill child is this test binary run again with childEnv set: it runs reconcile with the
// flags in childArgsEnv (a JSON array), serving gRPC on -grpc.addr, until it is killed.
const (
	childEnv     = "BCOSDATA_RECONCILE_CHILD"
	childArgsEnv = "BCOSDATA_RECONCILE_CHILD_ARGS"
)

func runChild() int {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(childArgsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var cfg Config
	fs := newFlagSet()
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.Poll = 20 * time.Millisecond
	cfg.HeartbeatInterval, cfg.SessionTimeout = kafkatest.HeartbeatInterval, kafkatest.SessionTimeout
	pool, err := postgres.NewPool(cfg.DB.URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	svc, err := New(cfg, app.Deps{Log: zap.NewNop(), Pool: pool})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lis, err := net.Listen("tcp", cfg.Server.GRPCAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fmt.Fprintf(os.Stderr, "reconcile child ended without being killed: %v\n", svc.Run(ctx))
	return 1
}

// pool0 is a pool on the env's database, closed at the end of the test.
func pool0(t *testing.T, e *env) *pgxpool.Pool {
	e.poolOnce.Do(func() {
		p, err := postgres.NewPool(e.dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		e.pool = p
	})
	return e.pool
}

// TestEvidenceKilledWhilePublishingAndAnchoring runs reconcile as a child process and kills it
// (SIGKILL) at random moments while records are published to it and batches are anchored,
// several times over, then runs it to the end: every record it acknowledged is in an anchored
// batch, every batch is anchored exactly once on chain (one EvidenceStored event of our
// account per batch id, none unknown), and the verification run finds nothing.
func TestEvidenceKilledWhilePublishingAndAnchoring(t *testing.T) {
	pgtest.SkipIfShort(t)
	e := newEnv(t, "file://"+t.TempDir(), "x-{yyyyMMdd}.csv")
	ch := startEvidenceChain(t, e)
	archive := t.TempDir()
	f := ch.flags(archive, "")
	f.BatchSize, f.BatchAge = 50, 100*time.Millisecond
	args := []string{"-db.url", e.dsn, "-kafka.brokers", strings.Join(e.broker.Addrs(), ","),
		"-evidence.archive", f.Archive, "-evidence.batch-size", "50", "-evidence.batch-age", "100ms",
		"-evidence.rpc", f.RPC, "-evidence.key", f.Key, "-evidence.contract", f.Contract, "-evidence.resend", "5s"}
	alice := newPublisher(t, "alice")
	var (
		mu    sync.Mutex
		acked []string
		next  int
	)
	for round := range 4 {
		addr := freeAddr(t)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		a, _ := json.Marshal(append(append([]string{}, args...), "-grpc.addr", addr, "-http.addr", "", "-admin.addr", ""))
		cmd.Env = append(os.Environ(), childEnv+"=1", childArgsEnv+"="+string(a))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		c := reconcilev1.NewEvidenceServiceClient(conn)
		// The child answers once it runs: alice registered in round 0, found in the later ones.
		await.True(t, 30*time.Second, "the child answers", func() bool {
			var err error
			if round == 0 {
				_, err = c.RegisterPublisher(t.Context(), &reconcilev1.RegisterPublisherRequest{Record: alice.registration(t)})
			} else {
				_, err = c.GetPublisher(t.Context(), &reconcilev1.GetPublisherRequest{Name: alice.name})
			}
			return err == nil
		})
		// Publish from 4 workers until the kill; a record counts once acknowledged. Once the
		// child is killed, a call waits for a connection (WaitForReady) until stopping cancels
		// it, rather than failing at once and being tried again in a loop.
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		stopCtx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for stopCtx.Err() == nil {
					mu.Lock()
					id := fmt.Sprintf("kill-%06d", next)
					next++
					mu.Unlock()
					ctx, cancel := context.WithTimeout(stopCtx, 5*time.Second)
					_, err := c.PublishRecord(ctx, &reconcilev1.PublishRecordRequest{Record: alice.record(t, id)}, grpc.WaitForReady(true))
					cancel()
					if err == nil {
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}
			})
		}
		// Kill at a random moment once the child is up and working: after a random number of
		// records acknowledged (counted, not timed, so a loaded machine moves it as it slows
		// the child).
		var b [1]byte
		_, _ = rand.Read(b[:])
		kill := before + 10 + int(b[0])*4
		await.True(t, 60*time.Second, "the child acknowledges records", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= kill })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
		var unsent, unconfirmed int
		_ = pool0(t, e).QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE state = 'sealed'), count(*) FILTER (WHERE state = 'sent')
			FROM reconcile.evidence_batches`).Scan(&unsent, &unconfirmed)
		t.Logf("round %d: killed with %d batches sealed not sent, %d sent not confirmed", round, unsent, unconfirmed)
		stop()
		wg.Wait()
		conn.Close()
		mu.Lock()
		t.Logf("round %d: killed with %d records acknowledged so far", round, len(acked))
		mu.Unlock()
		if s := stderr.String(); s != "" {
			t.Logf("child stderr: %s", s)
		}
	}

	// Run to the end in this process on the same database.
	r := e.start(func(c *Config) {
		c.Jobs = ""
		c.Evidence = f
	})
	took := time.Now()
	// On a timeout, the last answer says where the records stand, and consumerState how far
	// the consumer got (asked once then, not on every check).
	if err := await.Until(t.Context(), 120*time.Second, func() error {
		var missing, unsealed int
		var states string
		err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE rec.id IS NULL), count(*) FILTER (WHERE rec.id IS NOT NULL AND rec.batch IS NULL),
				coalesce(string_agg(DISTINCT b.state, ','), '')
			FROM unnest($1::text[]) AS a(id)
			LEFT JOIN reconcile.evidence_records rec ON rec.id = a.id
			LEFT JOIN reconcile.evidence_batches b ON b.number = rec.batch
			WHERE b.state IS DISTINCT FROM 'anchored'`, acked).Scan(&missing, &unsealed, &states)
		if err != nil {
			return err
		}
		var batches string
		_ = r.svc.deps.Pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(state || ' ' || n, ', '), '') FROM
			(SELECT state, count(*) AS n FROM reconcile.evidence_batches GROUP BY state) s`).Scan(&batches)
		if missing+unsealed > 0 || states != "" {
			return fmt.Errorf("of %d acknowledged records, %d not stored, %d not in a batch, others in batches %q not anchored; batches: %s",
				len(acked), missing, unsealed, states, batches)
		}
		return nil
	}); err != nil {
		t.Fatalf("waiting for every acknowledged record anchored: %v; %s", err, consumerState(t, r))
	}
	t.Logf("every acknowledged record anchored %s after the last start", time.Since(took).Round(time.Millisecond))
	// Wait for the unacknowledged but stored ones too, then compare with the chain.
	await.True(t, 60*time.Second, "every stored record anchored", func() bool {
		var pending int
		err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_batches WHERE state <> 'anchored'`).Scan(&pending)
		var unsealed int
		err2 := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_records WHERE batch IS NULL`).Scan(&unsealed)
		return err == nil && err2 == nil && pending == 0 && unsealed == 0
	})
	var batches, onChain, distinct, sum int
	pool := r.svc.deps.Pool
	if err := pool.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(count), 0) FROM reconcile.evidence_batches`).Scan(&batches, &sum); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT params->>'id') FROM reconcile.records
		WHERE kind = 'event' AND name = 'EvidenceStored' AND contract_address = $1`, strings.ToLower(ch.contract.Hex())).Scan(&onChain, &distinct); err != nil {
		t.Fatal(err)
	}
	var records int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_records`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	// The simulator's own traffic stores evidence too: count only ids of our batches.
	var ours int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.records c JOIN reconcile.evidence_batches b
		ON b.batch_id = decode(substr(c.params->>'id', 3), 'hex') WHERE c.kind = 'event' AND c.name = 'EvidenceStored'`).Scan(&ours); err != nil {
		t.Fatal(err)
	}
	if ours != batches || sum != records {
		t.Errorf("%d batches holding %d of %d records; %d EvidenceStored events of our batch ids (want one per batch)", batches, sum, records, ours)
	}
	if onChain != distinct {
		t.Errorf("%d EvidenceStored events for %d distinct ids: an id anchored twice", onChain, distinct)
	}
	v, err := r.evidence.VerifyEvidence(t.Context(), &reconcilev1.VerifyEvidenceRequest{})
	if err != nil || v.GetVerification().GetState() != "succeeded" {
		t.Errorf("verification: %v, %v", v, err)
	}
	t.Logf("%d records acknowledged over 4 kills (%d stored), %d batches, each anchored once", len(acked), records, batches)
}

// checkSharing reads the records topic and SubscribeRecords: every accepted record and every
// anchored batch is there (at least once).
func checkSharing(t *testing.T, e *env, r *running, records int) {
	t.Helper()
	var batches int
	if err := r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*) FROM reconcile.evidence_batches`).Scan(&batches); err != nil {
		t.Fatal(err)
	}
	count := func(types map[string]map[string]bool, ev *reconcilev1.RecordEvent) {
		if types[ev.GetType()] == nil {
			types[ev.GetType()] = map[string]bool{}
		}
		key := ev.GetRecordId()
		if ev.GetBatch() != nil {
			key = strconv.FormatInt(ev.GetBatch().GetNumber(), 10)
		}
		types[ev.GetType()][key] = true
	}
	complete := func(types map[string]map[string]bool) bool {
		return len(types["accepted"]) == records && len(types["anchored"]) == batches && len(types["sealed"]) == batches
	}
	// The topic (every partition), once the outbox caught up.
	topic := "bcos.chain0.group1.records.v1"
	conn, err := kafkago.Dial("tcp", e.broker.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var types map[string]map[string]bool
	await.True(t, 30*time.Second, "the records topic holds every event", func() bool {
		types = map[string]map[string]bool{}
		for _, p := range parts {
			c, err := kafkago.DialLeader(ctx, "tcp", e.broker.Addrs()[0], topic, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			last, err := c.ReadLastOffset()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: e.broker.Addrs(), Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
			for off := int64(0); off < last; off++ {
				m, err := rd.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("records topic partition %d at %d: %v", p.ID, off, err)
				}
				ev, err := kafka.Decode[reconcilev1.RecordEvent](m)
				if err != nil {
					t.Fatal(err)
				}
				count(types, ev)
			}
			rd.Close()
		}
		return complete(types)
	})
	// The stream, from the start.
	types = map[string]map[string]bool{}
	stream, err := r.evidence.SubscribeRecords(ctx, &reconcilev1.SubscribeRecordsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for !complete(types) {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("SubscribeRecords: %v after %d accepted, %d sealed, %d anchored", err, len(types["accepted"]), len(types["sealed"]), len(types["anchored"]))
		}
		count(types, resp.GetEvent())
	}
}

// consumerState says how far the running service's consumer got, for a timeout's message: a
// batch is anchored only once its EvidenceStored event came back through stash, export and
// this consumer.
func consumerState(t *testing.T, r *running) string {
	st, err := r.client.Status(t.Context(), &reconcilev1.StatusRequest{})
	if err != nil {
		return fmt.Sprintf("consumer status: %v", err)
	}
	var events int
	var top int64
	_ = r.svc.deps.Pool.QueryRow(t.Context(), `SELECT count(*), coalesce(max(block_number), -1) FROM reconcile.records
		WHERE kind = 'event' AND name = 'EvidenceStored'`).Scan(&events, &top)
	return fmt.Sprintf("consumer: height %d (has %t), lag %d messages, %d halted partitions, last error %q; %d EvidenceStored events stored, the last in block %d; %s",
		st.GetConsumedHeight(), st.GetHasHeight(), st.GetLagMessages(), len(st.GetHaltedPartitions()), st.GetLastError(), events, top,
		groupsState(t, r.svc.cfg.Kafka.Brokers, r.svc.cfg.groupID(), r.svc.cfg.groupID()+"-evidence"))
}

// groupsState describes consumer groups as the broker sees them (state, and each member's
// client and partitions), for a timeout's message: a group still rebalancing, or holding
// members of killed processes, shows there.
func groupsState(t *testing.T, brokers []string, ids ...string) string {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	desc, err := client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: ids})
	if err != nil {
		return fmt.Sprintf("groups: %v", err)
	}
	var out []string
	for _, g := range desc.Groups {
		if g.Error != nil {
			out = append(out, fmt.Sprintf("group %s: %v", g.GroupID, g.Error))
			continue
		}
		var members []string
		for _, m := range g.Members {
			var parts []string
			for _, a := range m.MemberAssignments.Topics {
				parts = append(parts, fmt.Sprintf("%s %v", a.Topic, a.Partitions))
			}
			members = append(members, fmt.Sprintf("%s (%s) [%s]", m.MemberID, m.ClientHost, strings.Join(parts, "; ")))
		}
		out = append(out, fmt.Sprintf("group %s %s, %d members: %s", g.GroupID, g.GroupState, len(g.Members), strings.Join(members, ", ")))
	}
	return strings.Join(out, "; ")
}
