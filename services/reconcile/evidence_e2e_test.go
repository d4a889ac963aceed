package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
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
	if testing.Short() {
		t.Skip("slow")
	}
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
	go func() { defer wg.Done(); produceRecords(t, e.broker.Addrs(), alice, viaKafka) }()
	publishGRPC(t, c, alice, viaGRPC, 8)
	wg.Wait()
	published := time.Since(began)

	await.True(t, 120*time.Second, fmt.Sprintf("all %d records anchored", n+1), func() bool { return anchoredCount(t, r) == n+1 })
	anchored := time.Since(began)
	if entries, _ := os.ReadDir(inbox); len(entries) != 1 {
		t.Errorf("inbox holds %d entries, want only %s/", len(entries), evidence.ProcessedDir)
	}

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
