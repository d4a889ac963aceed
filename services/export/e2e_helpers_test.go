package export_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/kafkatest"
	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
	"github.com/bcosdata/bcosdata/services/stash"
)

// The end-to-end tests run fiscosim's full traffic mix (every ABI shape the sample contracts
// have) through stash and export, and check export's tables against the generator's own
// record of what it sent (fiscosim/sent), never against export's decoder.

// e2eBlocks is the number of blocks after genesis of the full-mix chain: about 400
// transactions, which cover every method and event of the mix (asserted by checkRecord).
const e2eBlocks = 40

// e2ePartitions is the partition count of the blocks topic stash publishes in these tests.
const e2ePartitions = 3

// allContracts are the sample contracts the full mix deploys, all registered with learn: true.
var allContracts = []string{"Asset", "Evidence", "Ledger", "Registry"}

// suiteName names a crypto suite for subtests and flags.
func suiteName(sm bool) string {
	if sm {
		return "sm"
	}
	return "ecdsa"
}

func suiteOf(sm bool) *cryptosuite.Suite {
	if sm {
		return cryptosuite.SM()
	}
	return cryptosuite.ECDSA()
}

// runSimAndStash writes a full-mix chain of e2eBlocks blocks with fiscosim and runs stash on
// it, publishing the verified blocks to brokers (e2ePartitions partitions) until the test
// ends. It returns the generator's record and the block count (genesis included).
func runSimAndStash(t *testing.T, sm bool, brokers []string) ([]sent.Record, int) {
	t.Helper()
	cfg := simtest.Config(t)
	cfg.SM, cfg.Mix = sm, fiscosim.MixFull
	cfg.Blocks, cfg.Exit = e2eBlocks, true
	cfg.RPCAddr, cfg.BinlogAddr = "", ""
	sim, err := fiscosim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := sim.Run(ctx); err != nil {
		t.Fatalf("fiscosim: %v", err)
	}
	scfg := stash.DefaultConfig()
	scfg.Sources = app.StringList{"file://" + sim.BinlogDir()}
	scfg.Crypto = suiteName(sm)
	scfg.Partitions = e2ePartitions
	scfg.Kafka = kafka.Flags{Brokers: brokers, MaxMessageBytes: kafka.MaxBlockMessageBytes}
	scfg.DB = postgres.Flags{URL: pgtest.NewDB(t)}
	scfg.CacheDir = t.TempDir()
	scfg.Poll = 20 * time.Millisecond
	svc, err := stash.New(scfg, app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("stash.New: %v", err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(sctx) }()
	t.Cleanup(func() {
		scancel()
		if err := <-done; err != nil {
			t.Errorf("stash Run: %v", err)
		}
	})
	return sim.Sent(), e2eBlocks + 1
}

// e2eChain is a full-mix chain as stash published it, kept for the tests that replay it.
type e2eChain struct {
	recs   []sent.Record
	msgs   []kafkago.Message // the blocks topic, in block order
	blocks int
}

var e2eChains [2]struct {
	once  sync.Once
	chain *e2eChain
	fail  string
}

// fullChain returns the full-mix chain of the suite (made once per test binary).
func fullChain(t *testing.T, sm bool) *e2eChain {
	t.Helper()
	c := &e2eChains[map[bool]int{false: 0, true: 1}[sm]]
	c.once.Do(func() {
		broker := kafkatest.NewBroker(t, kafkatest.WithMaxMessageBytes(kafka.MaxBlockMessageBytes))
		broker.CreateTopic(t, blocksTopic, e2ePartitions, map[string]string{"max.message.bytes": fmt.Sprint(kafka.MaxBlockMessageBytes)})
		// stash stops when the test that made the chain ends; the messages are read by then.
		recs, blocks := runSimAndStash(t, sm, broker.Addrs())
		await.For(t, 60*time.Second, "stash published every block", func() error {
			if n := topicSize(t, broker.Addrs(), blocksTopic, e2ePartitions); n != blocks {
				return fmt.Errorf("%d of %d", n, blocks)
			}
			return nil
		})
		msgs := drainTopic(t, broker.Addrs(), blocksTopic, e2ePartitions)
		if len(msgs) != blocks {
			c.fail = fmt.Sprintf("stash published %d blocks, want %d", len(msgs), blocks)
			return
		}
		slices.SortFunc(msgs, func(a, b kafkago.Message) int {
			return bytes.Compare(a.Key, b.Key)
		})
		c.chain = &e2eChain{recs: recs, msgs: msgs, blocks: blocks}
	})
	if c.chain == nil {
		t.Fatalf("full-mix chain (%s): %s", suiteName(sm), c.fail)
	}
	return c.chain
}

// topicSize is the number of messages in the partitions of topic.
func topicSize(t *testing.T, addrs []string, topic string, partitions int) int {
	t.Helper()
	n := 0
	for p := range partitions {
		conn, err := kafkago.DialLeader(t.Context(), "tcp", addrs[0], topic, p)
		if err != nil {
			return -1
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			return -1
		}
		n += int(last)
	}
	return n
}

// blockOf is the block number a blocks-topic message is keyed by.
func blockOf(m kafkago.Message) uint64 { return binary.BigEndian.Uint64(m.Key) }

// produceTo writes block messages to the blocks topic of e, each to the partition part picks.
func (e *env) produceTo(msgs []kafkago.Message, part func(kafkago.Message) int) {
	e.t.Helper()
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(e.broker.Addrs()...),
		Topic:        blocksTopic,
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchBytes:   int64(kafka.MaxBlockMessageBytes),
		Balancer:     kafkago.BalancerFunc(func(m kafkago.Message, _ ...int) int { return part(m) }),
	}
	defer w.Close()
	out := make([]kafkago.Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, kafkago.Message{Key: m.Key, Value: m.Value, Headers: m.Headers})
	}
	if err := w.WriteMessages(e.t.Context(), out...); err != nil {
		e.t.Fatalf("produce %d messages: %v", len(msgs), err)
	}
}

// byBlock spreads blocks over the e2ePartitions partitions of the blocks topic.
func byBlock(m kafkago.Message) int { return int(blockOf(m) % e2ePartitions) }

// writeContractsFile writes, in a temporary directory, copies of the named sample contracts'
// ABI and creation code for the suite and a contracts file registering them with learn: true,
// and returns the file's path.
func writeContractsFile(t testing.TB, sm bool, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	simtest.WriteContracts(t, dir, sm, names...)
	var b strings.Builder
	b.WriteString("contracts:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    abi: %s.abi.json\n    bin: %s.bin\n    learn: true\n", n, n, n)
	}
	file := filepath.Join(dir, "contracts.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// e2eConfig is export's configuration for a full-mix chain of the suite.
func (e *env) e2eConfig(sm bool, contracts string) export.Config {
	cfg := e.config(contracts)
	cfg.Crypto = suiteName(sm)
	return cfg
}

// checkRecord compares export's tables and its events topic with the generator's record recs,
// for the contracts registered in the file: every transaction once with its status, sender,
// recipient and revert reason; every log once; every deployment of a registered contract
// learned; every recorded event of a known address once in its typed table, every call to a
// known address (failed ones with their status) once in its method table, every constructor
// once, each column equal to the recorded value; and nothing else. The events topic holds
// one message per decoded event and the calls topic one per decoded call and constructor;
// republished allows a message more than once if every copy has the same bytes, and the
// number of such extra copies is returned.
func checkRecord(t *testing.T, pool *pgxpool.Pool, brokers []string, sm bool, contractsFile string, recs []sent.Record, republished bool) (republishedCopies int) {
	t.Helper()
	suite := suiteOf(sm)
	csuite := contract.Keccak
	if sm {
		csuite = contract.SM3
	}
	reg, err := contract.Load(contractsFile, csuite)
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, c := range reg.Contracts() {
		registered[c.Name] = true
	}
	type tableKey struct {
		contract string
		kind     contract.Kind
		sig      string
	}
	tables := map[tableKey]*contract.Table{}
	for _, tb := range reg.Tables() {
		sig := tb.Signature
		if tb.Kind == contract.ConstructorTable {
			sig = ""
		}
		tables[tableKey{tb.Contract, tb.Kind, sig}] = tb
	}

	// Transactions, each once.
	type txRow struct {
		block, index, status int64
		from, to, created    []byte
		reason               *string
	}
	txs := map[common.Hash]txRow{}
	rows, err := pool.Query(t.Context(), `SELECT hash, block_number, transaction_index, status, from_address, to_address, contract_address, revert_reason FROM export.transactions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h []byte
		var r txRow
		if err := rows.Scan(&h, &r.block, &r.index, &r.status, &r.from, &r.to, &r.created, &r.reason); err != nil {
			t.Fatal(err)
		}
		if _, dup := txs[common.BytesToHash(h)]; dup {
			t.Errorf("transaction %x stored twice", h)
		}
		txs[common.BytesToHash(h)] = r
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(txs) != len(recs) {
		t.Errorf("transactions holds %d transactions, the record %d", len(txs), len(recs))
	}

	// Deployments of registered contracts, learned; contracts created by contract code are
	// accepted when export learned them (nothing in a receipt announces them).
	known := map[common.Address]string{}
	wantDeploys := map[common.Address]string{}
	var createdByCode []sent.Created
	for _, r := range recs {
		if r.Deploy && registered[r.Contract] && !r.Reverted {
			known[r.To] = r.Contract
			wantDeploys[r.To] = fmt.Sprintf("%s tx %x learned", r.Contract, r.TxHash)
		}
		for _, c := range r.Created {
			if registered[c.Contract] {
				createdByCode = append(createdByCode, c)
			}
		}
	}
	gotDeploys := map[common.Address]string{}
	rows, err = pool.Query(t.Context(), `SELECT address, contract, transaction_hash, learned FROM export.deployments`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, h []byte
		var name string
		var learned bool
		if err := rows.Scan(&a, &name, &h, &learned); err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s tx %x", name, h)
		if learned {
			s += " learned"
		}
		gotDeploys[common.BytesToAddress(a)] = s
	}
	for _, c := range createdByCode {
		if s, ok := gotDeploys[c.Address]; ok {
			t.Logf("export learned %s at %s, created by contract code (%s)", c.Contract, c.Address.Hex(), s)
			wantDeploys[c.Address] = s
			known[c.Address] = c.Contract
		} else {
			t.Logf("export did not learn %s at %s, created by contract code: its calls and events are not decoded", c.Contract, c.Address.Hex())
		}
	}
	if diff := cmp.Diff(wantDeploys, gotDeploys); diff != "" {
		t.Errorf("deployments (-record +export):\n%s", diff)
	}

	// The typed tables, as JSON objects keyed by row.
	typed := map[string]map[string]map[string]any{}
	for _, tb := range reg.Tables() {
		typed[tb.Name] = readTyped(t, pool, tb)
	}
	want := map[string]map[string]map[string]any{} // table → row key → column → value
	add := func(tb *contract.Table, key string, row map[string]any) {
		if want[tb.Name] == nil {
			want[tb.Name] = map[string]map[string]any{}
		}
		if _, dup := want[tb.Name][key]; dup {
			t.Fatalf("record gives %s row %s twice", tb.Name, key)
		}
		want[tb.Name][key] = row
	}
	bytea := func(b []byte) string { return `\x` + hex.EncodeToString(b) }
	kinds := map[string]int{} // the kinds of value compared, see valueKind
	var logs, wantEvents int
	eventKeys, callKeys := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		tx, ok := txs[r.TxHash]
		if !ok {
			t.Errorf("transaction %x (seq %d, %s.%s) not exported", r.TxHash, r.Seq, r.Contract, r.Signature)
			continue
		}
		wantTo := r.To.Bytes()
		var wantCreated []byte
		if r.Deploy {
			wantTo, wantCreated = nil, r.To.Bytes()
			if r.Reverted {
				wantCreated = nil
			}
		}
		var reason *string
		if r.Reverted {
			reason = &r.RevertReason
			kinds["revert reason"]++
			if strings.ContainsFunc(r.RevertReason, func(c rune) bool { return c >= 0x80 }) {
				kinds["non-ASCII revert reason"]++
			}
		}
		if (tx.status != 0) != r.Reverted || !bytes.Equal(tx.from, r.From.Bytes()) || !bytes.Equal(tx.to, wantTo) || !bytes.Equal(tx.created, wantCreated) || !cmp.Equal(tx.reason, reason) {
			t.Errorf("transaction %x (%s.%s): status %d, from %x, to %x, created %x, reason %v; record: reverted %v (%q), from %x, to %x, created %x",
				r.TxHash, r.Contract, r.Signature, tx.status, tx.from, tx.to, tx.created, deref(tx.reason), r.Reverted, r.RevertReason, r.From, wantTo, wantCreated)
		}
		base := func(kind contract.Kind) map[string]any {
			m := map[string]any{
				"block_number":      json.Number(fmt.Sprint(tx.block)),
				"transaction_hash":  bytea(r.TxHash.Bytes()),
				"transaction_index": json.Number(fmt.Sprint(tx.index)),
			}
			if kind != contract.EventTable {
				m["from_address"] = bytea(r.From.Bytes())
				m["status"] = json.Number(fmt.Sprint(tx.status))
				m["contract_address"] = bytea(r.To.Bytes())
			}
			return m
		}
		switch name, ok := known[r.To]; {
		case r.Deploy && registered[r.Contract]:
			if tb := tables[tableKey{r.Contract, contract.ConstructorTable, ""}]; tb != nil {
				add(tb, r.TxHash.Hex(), withParams(t, tb, base(tb.Kind), r.Inputs, r.Outputs, suite, kinds))
				callKeys[fmt.Sprintf("%x", r.TxHash)] = true
			} else if len(r.Inputs) > 0 {
				t.Errorf("%s has constructor arguments but no constructor table", r.Contract)
			}
		case !r.Deploy && ok:
			if name != r.Contract {
				t.Errorf("transaction %x calls %s at %s, which export knows as %s", r.TxHash, r.Contract, r.To.Hex(), name)
			}
			tb := tables[tableKey{name, contract.MethodTable, r.Signature}]
			if tb == nil {
				t.Errorf("no method table for %s.%s", name, r.Signature)
				break
			}
			outs := r.Outputs
			if r.Reverted {
				outs = nil
			}
			row := withParams(t, tb, base(tb.Kind), r.Inputs, outs, suite, kinds)
			if r.Reverted || r.Outputs == nil {
				for _, c := range tb.Columns {
					if c.Output {
						if r.Reverted {
							row[c.Name] = nil // a failed call has no outputs
						} else {
							delete(row, c.Name) // the record does not know them
						}
					}
				}
			}
			add(tb, r.TxHash.Hex(), row)
			callKeys[fmt.Sprintf("%x", r.TxHash)] = true
		}
		for i, ev := range r.Events {
			logs++
			name, ok := known[ev.Address]
			if !ok {
				continue
			}
			if name != ev.Contract {
				t.Errorf("transaction %x: %s emitted by %s, which export knows as %s", r.TxHash, ev.Signature, ev.Address.Hex(), name)
			}
			tb := tables[tableKey{name, contract.EventTable, ev.Signature}]
			if tb == nil {
				t.Errorf("no event table for %s.%s", name, ev.Signature)
				continue
			}
			row := base(tb.Kind)
			row["log_index"] = json.Number(fmt.Sprint(i))
			row["contract_address"] = bytea(ev.Address.Bytes())
			add(tb, fmt.Sprintf("%s/%d", r.TxHash.Hex(), i), withParams(t, tb, row, ev.Args, nil, suite, kinds))
			eventKeys[fmt.Sprintf("%x/%d", r.TxHash, i)] = true
			wantEvents++
		}
	}
	var empty []string // method tables no transaction calls (getters)
	for _, tb := range reg.Tables() {
		got, exp := typed[tb.Name], want[tb.Name]
		for key, w := range exp {
			g, ok := got[key]
			if !ok {
				t.Errorf("%s: row %s missing", tb.Name, key)
				continue
			}
			for col := range g {
				if _, ok := w[col]; !ok && !isOutput(tb, col) && col != "block_time" {
					t.Errorf("%s row %s: column %s not checked", tb.Name, key, col)
				}
			}
			for col, v := range w {
				if diff := cmp.Diff(v, g[col]); diff != "" {
					t.Errorf("%s row %s column %s (-record +export):\n%s", tb.Name, key, col, diff)
				}
			}
		}
		for key := range got {
			if _, ok := exp[key]; !ok {
				t.Errorf("%s: row %s is not in the record", tb.Name, key)
			}
		}
		switch {
		case len(exp) > 0:
		case tb.Kind != contract.MethodTable:
			t.Errorf("%s: the record has no row for it; the chain does not cover it", tb.Name)
		default:
			empty = append(empty, tb.Name)
		}
	}
	if n := countRows(t, pool, `SELECT count(*) FROM export.logs`); n != logs {
		t.Errorf("logs holds %d logs, the record %d events", n, logs)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM export.decode_failures`); n != 0 {
		var errs []string
		rows, _ := pool.Query(t.Context(), `SELECT contract || ': ' || error FROM export.decode_failures LIMIT 5`)
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			errs = append(errs, s)
		}
		t.Errorf("%d decode failures, e.g. %q", n, errs)
	}

	// The decoded topics: one message per recorded event of a known address, one per call
	// to a known address and per constructor of a registered contract.
	for _, topic := range []struct {
		name string
		want map[string]bool
		key  func(m kafkago.Message) (string, error)
	}{
		{eventsTopic, eventKeys, func(m kafkago.Message) (string, error) {
			ev, err := kafka.Decode[chainv1.DecodedEvent](m)
			return fmt.Sprintf("%x/%d", ev.GetTransactionHash(), ev.GetLogIndex()), err
		}},
		{callsTopic, callKeys, func(m kafkago.Message) (string, error) {
			c, err := kafka.Decode[chainv1.DecodedCall](m)
			return fmt.Sprintf("%x", c.GetTransactionHash()), err
		}},
	} {
		seen := map[string][]byte{}
		for _, m := range drainTopic(t, brokers, topic.name, 2) {
			k, err := topic.key(m)
			if err != nil {
				t.Fatalf("%s: %v", topic.name, err)
			}
			if prev, ok := seen[k]; ok {
				republishedCopies++
				if !republished {
					t.Errorf("%s: %s published twice", topic.name, k)
				} else if !bytes.Equal(prev, m.Value) {
					t.Errorf("%s: %s republished with other bytes", topic.name, k)
				}
				continue
			}
			seen[k] = m.Value
			if !topic.want[k] {
				t.Errorf("%s: %s is not in the record", topic.name, k)
			}
		}
		if len(seen) != len(topic.want) {
			t.Errorf("%s holds %d distinct messages, the record %d", topic.name, len(seen), len(topic.want))
		}
	}
	if registered["Ledger"] {
		for _, k := range hardKinds {
			if kinds[k] == 0 {
				t.Errorf("no %s compared: the chain does not cover it", k)
			}
		}
	}
	t.Logf("values compared by kind: %v", kinds)
	for _, tb := range reg.Tables() {
		if n := countRows(t, pool, fmt.Sprintf(`SELECT count(*) FROM export.%s x JOIN export.blocks b ON b.number = x.block_number WHERE x.block_time IS DISTINCT FROM b.time`, pgx.Identifier{tb.Name}.Sanitize())); n != 0 {
			t.Errorf("%s: %d rows whose block_time is not their block's time", tb.Name, n)
		}
	}
	t.Logf("method tables without calls in the record (getters): %v", empty)
	t.Logf("checked %d transactions, %d logs, %d decoded events, %d decoded calls, %d deployments, %d typed tables against the record", len(recs), logs, wantEvents, len(callKeys), len(wantDeploys), len(reg.Tables()))
	return republishedCopies
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func isOutput(tb *contract.Table, col string) bool {
	for _, c := range tb.Columns {
		if c.Name == col {
			return c.Output
		}
	}
	return false
}

// readTyped reads a typed table as JSON objects (bytea as \x hex, numeric exact), keyed by
// transaction hash (and /log index for events).
func readTyped(t *testing.T, pool *pgxpool.Pool, tb *contract.Table) map[string]map[string]any {
	t.Helper()
	rows, err := pool.Query(t.Context(), fmt.Sprintf(`SELECT to_jsonb(x)::text FROM export.%s x`, pgx.Identifier{tb.Name}.Sanitize()))
	if err != nil {
		t.Fatalf("read %s: %v", tb.Name, err)
	}
	defer rows.Close()
	out := map[string]map[string]any{}
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		h, _ := m["transaction_hash"].(string)
		key := "0x" + strings.TrimPrefix(h, `\x`)
		if tb.Kind == contract.EventTable {
			key += "/" + fmt.Sprint(m["log_index"])
		}
		if _, dup := out[key]; dup {
			t.Errorf("%s: row %s stored twice", tb.Name, key)
		}
		out[key] = m
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return out
}

// withParams adds to row the parameter columns of tb with the recorded values: inputs (or
// event arguments) in ABI order, then outputs.
func withParams(t *testing.T, tb *contract.Table, row map[string]any, inputs, outputs []sent.Value, suite *cryptosuite.Suite, kinds map[string]int) map[string]any {
	t.Helper()
	in, out := 0, 0
	for _, c := range tb.Columns {
		var v sent.Value
		var i int
		if c.Output {
			if out >= len(outputs) {
				out++
				continue
			}
			v, i = outputs[out], out
			out++
		} else {
			if in >= len(inputs) {
				t.Errorf("%s: column %s has no recorded value (%d recorded)", tb.Name, c.Name, len(inputs))
				continue
			}
			v, i = inputs[in], in
			in++
		}
		name := v.Name
		if name == "" {
			name = fmt.Sprintf("arg%d", i)
			if c.Output {
				name = fmt.Sprintf("out%d", i)
			}
		}
		if c.Param != name || c.ABIType != v.Type || c.Indexed != v.Indexed {
			t.Errorf("%s column %s is %s %s (indexed %v), the record has %s %s (indexed %v)", tb.Name, c.Name, c.Param, c.ABIType, c.Indexed, name, v.Type, v.Indexed)
			continue
		}
		row[c.Name] = columnValue(t, c, v, suite, kinds)
	}
	if in != len(inputs) || (outputs != nil && out != len(outputs)) {
		t.Errorf("%s: %d input and %d output columns, the record has %d and %d values", tb.Name, in, out, len(inputs), len(outputs))
	}
	return row
}

// columnValue is what to_jsonb shows for column c holding the recorded value v: computed from
// the record's own JSON (decimal integers, 0x hex bytes, lowercase addresses, tuples as
// objects), with bytea as \x hex and an indexed string or bytes as the chain's hash of it.
func columnValue(t *testing.T, c contract.Column, v sent.Value, suite *cryptosuite.Suite, kinds map[string]int) any {
	t.Helper()
	kinds[valueKind(c, v)]++
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Value any }
	dec := json.NewDecoder(bytes.NewReader(enc))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if c.Indexed && (v.Type == "string" || v.Type == "bytes" || strings.HasSuffix(v.Type, "]") || strings.HasPrefix(v.Type, "(")) {
		var raw []byte
		switch x := v.Value.(type) {
		case string:
			raw = []byte(x)
		case []byte:
			raw = x
		default:
			t.Fatalf("indexed %s %s: the test computes topics of strings and bytes only", v.Type, v.Name)
		}
		return `\x` + hex.EncodeToString(suite.Hash(raw).Bytes())
	}
	switch c.SQLType {
	case "numeric(78,0)":
		return json.Number(m.Value.(string))
	case "bytea":
		return `\x` + strings.TrimPrefix(m.Value.(string), "0x")
	}
	return m.Value
}

// hardKinds are the kinds of value a decoder gets wrong most easily; the full mix has them all.
var hardKinds = []string{"integer beyond 2^64", "negative integer", "non-ASCII string", "empty string",
	"empty bytes", "long bytes", "bytesN", "indexed string or bytes (topic hash)", "struct (jsonb)", "dynamic array (jsonb)",
	"empty array (jsonb)", "fixed array (jsonb)", "address", "bool", "non-ASCII revert reason"}

// valueKind classifies a compared value for the coverage check.
func valueKind(c contract.Column, v sent.Value) string {
	switch {
	case c.Indexed && (v.Type == "string" || v.Type == "bytes"):
		return "indexed string or bytes (topic hash)"
	case strings.HasPrefix(v.Type, "("):
		return "struct (jsonb)"
	case strings.HasSuffix(v.Type, "[]"):
		if reflect.ValueOf(v.Value).Len() == 0 {
			return "empty array (jsonb)"
		}
		return "dynamic array (jsonb)"
	case strings.HasSuffix(v.Type, "]"):
		return "fixed array (jsonb)"
	case v.Type == "string":
		s := v.Value.(string)
		if s == "" {
			return "empty string"
		}
		for _, r := range s {
			if r >= 0x80 {
				return "non-ASCII string"
			}
		}
		return "string"
	case v.Type == "bytes":
		switch n := len(v.Value.([]byte)); {
		case n == 0:
			return "empty bytes"
		case n >= 1024:
			return "long bytes"
		}
		return "bytes"
	case strings.HasPrefix(v.Type, "bytes"):
		return "bytesN"
	case strings.HasPrefix(v.Type, "int") || strings.HasPrefix(v.Type, "uint"):
		n, ok := new(big.Int).SetString(fmt.Sprint(v.Value), 10)
		switch {
		case !ok:
			return "integer"
		case n.Sign() < 0:
			return "negative integer"
		case n.BitLen() > 64:
			return "integer beyond 2^64"
		}
		return "integer"
	}
	return v.Type
}
