package export_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
)

// The query API tests check every answer against what the simulator sent (its record) and
// what stash published (block numbers, hashes, positions and times of the transactions),
// never against export's own decoder: expected decoded values come from the record through
// withParams, as in checkRecord.

// chainTx is where stash put a transaction.
type chainTx struct {
	block uint64
	index uint32
	time  time.Time
}

// model is the record arranged as the API should answer.
type model struct {
	reg    *contract.Registry
	blocks []*chainv1.Block
	txs    map[common.Hash]chainTx
	recs   []sent.Record
	// known are the addresses holding registered contracts, by contract name.
	known map[common.Address]string
	// events and calls are the decoded rows the record implies, in the natural order.
	events []wantRow
	calls  []wantRow
}

// wantRow is one expected event or call: its position, table and parameter columns in the
// form to_jsonb gives them (see columnValue).
type wantRow struct {
	key    string // tx hash, /log index for events
	block  uint64
	tx     uint32
	log    uint32
	table  *contract.Table
	params map[string]any
	rec    *sent.Record
	event  *sent.Event
}

func (w wantRow) before(o wantRow) bool {
	return w.block < o.block || (w.block == o.block && (w.tx < o.tx || (w.tx == o.tx && w.log < o.log)))
}

// newModel arranges the record of a full-mix chain for the contracts of file (ECDSA). The
// addresses of contracts created by contract code count as known when export learned them
// (nothing on the chain announces them; checkRecord accepts them on the same terms).
func newModel(t *testing.T, pool *pgxpool.Pool, ch *e2eChain, file string) *model {
	t.Helper()
	reg, err := contract.Load(file, contract.Keccak)
	if err != nil {
		t.Fatal(err)
	}
	m := &model{reg: reg, txs: map[common.Hash]chainTx{}, recs: ch.recs, known: map[common.Address]string{}}
	for _, msg := range ch.msgs {
		b := &chainv1.Block{}
		if err := proto.Unmarshal(msg.Value, b); err != nil {
			t.Fatal(err)
		}
		m.blocks = append(m.blocks, b)
		for _, x := range b.GetTransactions() {
			m.txs[common.BytesToHash(x.GetHash())] = chainTx{block: b.GetHeader().GetNumber(), index: x.GetIndex(),
				time: time.UnixMilli(int64(b.GetHeader().GetTimestampMs())).UTC()}
		}
	}
	slices.SortFunc(m.blocks, func(a, b *chainv1.Block) int { return int(a.GetHeader().GetNumber()) - int(b.GetHeader().GetNumber()) })
	registered := map[string]bool{}
	for _, c := range reg.Contracts() {
		registered[c.Name] = true
	}
	learned := map[common.Address]string{}
	rows, err := pool.Query(t.Context(), `SELECT address, contract FROM export.deployments`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a []byte
		var c string
		if err := rows.Scan(&a, &c); err != nil {
			t.Fatal(err)
		}
		learned[common.BytesToAddress(a)] = c
	}
	for _, r := range ch.recs {
		if r.Deploy && registered[r.Contract] && !r.Reverted {
			m.known[r.To] = r.Contract
		}
		for _, c := range r.Created {
			if registered[c.Contract] && learned[c.Address] == c.Contract {
				m.known[c.Address] = c.Contract
			}
		}
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
	kinds := map[string]int{}
	suite := suiteOf(false)
	for i := range ch.recs {
		r := &ch.recs[i]
		pos, ok := m.txs[r.TxHash]
		if !ok {
			t.Fatalf("transaction %x of the record is not on the chain", r.TxHash)
		}
		base := func(tb *contract.Table) wantRow {
			return wantRow{key: r.TxHash.Hex(), block: pos.block, tx: pos.index, table: tb, params: map[string]any{}, rec: r}
		}
		name, ok := m.known[r.To]
		switch {
		case r.Deploy && registered[r.Contract]:
			if tb := tables[tableKey{r.Contract, contract.ConstructorTable, ""}]; tb != nil {
				w := base(tb)
				w.params = withParams(t, tb, w.params, r.Inputs, r.Outputs, suite, kinds)
				m.calls = append(m.calls, w)
			}
		case !r.Deploy && ok:
			tb := tables[tableKey{name, contract.MethodTable, r.Signature}]
			if tb == nil {
				t.Fatalf("no method table for %s.%s", name, r.Signature)
			}
			outs := r.Outputs
			if r.Reverted {
				outs = nil
			}
			w := base(tb)
			w.params = withParams(t, tb, w.params, r.Inputs, outs, suite, kinds)
			for _, c := range tb.Columns {
				if c.Output && r.Reverted {
					w.params[c.Name] = nil
				} else if c.Output && r.Outputs == nil {
					delete(w.params, c.Name) // the record does not know them
				}
			}
			m.calls = append(m.calls, w)
		}
		for j := range r.Events {
			ev := &r.Events[j]
			name, ok := m.known[ev.Address]
			if !ok {
				continue
			}
			tb := tables[tableKey{name, contract.EventTable, ev.Signature}]
			if tb == nil {
				t.Fatalf("no event table for %s.%s", name, ev.Signature)
			}
			w := base(tb)
			w.key, w.log, w.event = fmt.Sprintf("%s/%d", r.TxHash.Hex(), j), uint32(j), ev
			w.params = withParams(t, tb, w.params, ev.Args, nil, suite, kinds)
			m.events = append(m.events, w)
		}
	}
	for _, rs := range [][]wantRow{m.events, m.calls} {
		slices.SortFunc(rs, func(a, b wantRow) int {
			switch {
			case a.before(b):
				return -1
			case b.before(a):
				return 1
			}
			return 0
		})
	}
	return m
}

// apiValue is an API parameter in the form to_jsonb gives its column (see columnValue).
func apiValue(t *testing.T, c contract.Column, p *exportv1.Param) any {
	t.Helper()
	if p.GetNull() {
		return nil
	}
	v := p.GetValue()
	switch c.SQLType {
	case "numeric(78,0)":
		return json.Number(v)
	case "bytea":
		if !strings.HasPrefix(v, "0x") || strings.ToLower(v) != v {
			t.Errorf("parameter %s = %q: want lowercase 0x hex", c.Param, v)
		}
		return `\x` + strings.TrimPrefix(v, "0x")
	case "boolean":
		return v == "true"
	case "jsonb":
		var x any
		d := json.NewDecoder(strings.NewReader(v))
		d.UseNumber()
		if err := d.Decode(&x); err != nil {
			t.Errorf("parameter %s = %q: %v", c.Param, v, err)
		}
		return x
	}
	return v
}

// gotParams maps an answer's parameters (in column order) to the to_jsonb form, checking
// their names and types against the table, and keeping only the columns want has.
func gotParams(t *testing.T, tb *contract.Table, want map[string]any, ps []*exportv1.Param) map[string]any {
	t.Helper()
	if len(ps) != len(tb.Columns) {
		t.Errorf("%s: %d parameters, want %d", tb.Name, len(ps), len(tb.Columns))
		return nil
	}
	out := map[string]any{}
	for i, c := range tb.Columns {
		if ps[i].GetName() != c.Param || ps[i].GetType() != c.ABIType || ps[i].GetIndexed() != c.Indexed {
			t.Errorf("%s parameter %d is %s %s (indexed %v), want %s %s (indexed %v)", tb.Name, i, ps[i].GetName(), ps[i].GetType(), ps[i].GetIndexed(), c.Param, c.ABIType, c.Indexed)
		}
		if _, ok := want[c.Name]; ok {
			out[c.Name] = apiValue(t, c, ps[i])
		}
	}
	return out
}

// checkEvent compares an answered event with an expected one.
func checkEvent(t *testing.T, got *exportv1.Event, w wantRow, ts map[common.Hash]chainTx) {
	t.Helper()
	pos := ts[w.rec.TxHash]
	if got.GetTransactionHash() != strings.ToLower(w.rec.TxHash.Hex()) || got.GetBlockNumber() != w.block || got.GetTransactionIndex() != w.tx ||
		got.GetLogIndex() != w.log || got.GetContractAddress() != strings.ToLower(w.event.Address.Hex()) || got.GetContractName() != w.table.Contract ||
		got.GetEventSignature() != w.event.Signature || got.GetEventName() != w.event.Name || !got.GetBlockTime().AsTime().Equal(pos.time) {
		t.Errorf("event %s: got %s %s block %d tx %d log %d at %s (%s), want %s %s block %d tx %d log %d at %s (%s)", w.key,
			got.GetContractName(), got.GetEventSignature(), got.GetBlockNumber(), got.GetTransactionIndex(), got.GetLogIndex(), got.GetContractAddress(), got.GetBlockTime().AsTime(),
			w.table.Contract, w.event.Signature, w.block, w.tx, w.log, strings.ToLower(w.event.Address.Hex()), pos.time)
	}
	if diff := cmp.Diff(w.params, gotParams(t, w.table, w.params, got.GetParams())); diff != "" {
		t.Errorf("event %s %s parameters (-record +api):\n%s", w.key, w.event.Signature, diff)
	}
}

// checkCall compares an answered call with an expected one.
func checkCall(t *testing.T, got *exportv1.Call, w wantRow) {
	t.Helper()
	r := w.rec
	wantStatus := got.GetStatus() != 0
	if got.GetTransactionHash() != strings.ToLower(r.TxHash.Hex()) || got.GetBlockNumber() != w.block || got.GetTransactionIndex() != w.tx ||
		got.GetFrom() != strings.ToLower(r.From.Hex()) || got.GetContractAddress() != strings.ToLower(r.To.Hex()) || got.GetContractName() != w.table.Contract ||
		got.GetMethodSignature() != w.table.Signature || got.GetDeploy() != r.Deploy || wantStatus != r.Reverted {
		t.Errorf("call %s: got %s %s block %d tx %d from %s to %s status %d deploy %v, want %s %s block %d tx %d from %s to %s reverted %v deploy %v", w.key,
			got.GetContractName(), got.GetMethodSignature(), got.GetBlockNumber(), got.GetTransactionIndex(), got.GetFrom(), got.GetContractAddress(), got.GetStatus(), got.GetDeploy(),
			w.table.Contract, r.Signature, w.block, w.tx, strings.ToLower(r.From.Hex()), strings.ToLower(r.To.Hex()), r.Reverted, r.Deploy)
	}
	if !r.Deploy && got.GetMethodSignature() != r.Signature {
		t.Errorf("call %s: signature %s, the record %s", w.key, got.GetMethodSignature(), r.Signature)
	}
	params := append(slices.Clone(got.GetInputs()), got.GetOutputs()...)
	if diff := cmp.Diff(w.params, gotParams(t, w.table, w.params, params)); diff != "" {
		t.Errorf("call %s %s parameters (-record +api):\n%s", w.key, w.table.Signature, diff)
	}
}

// listAll pages through a list with pageSize until the end, checking every page but the
// last is full, and returns the items.
func listAll[T any](t *testing.T, what string, pageSize int32, call func(token string) ([]T, string, error)) []T {
	t.Helper()
	var out []T
	token := ""
	for pages := 0; ; pages++ {
		items, next, err := call(token)
		if err != nil {
			t.Fatalf("%s page %d: %v", what, pages, err)
		}
		out = append(out, items...)
		if next == "" {
			return out
		}
		if len(items) != int(pageSize) {
			t.Errorf("%s page %d: %d items and a next page, want %d", what, pages, len(items), pageSize)
		}
		if pages > 10000 {
			t.Fatalf("%s: no end of pages", what)
		}
		token = next
	}
}

// hexLower is an address or hash as the API shows it.
func hexLower(b []byte) string { return "0x" + hex.EncodeToString(b) }

// readStream receives n messages from a server stream (made with a deadline).
func readStream[T any](t *testing.T, stream grpc.ServerStreamingClient[T], n int) []*T {
	t.Helper()
	var out []*T
	for len(out) < n {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}
