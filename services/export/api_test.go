package export_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/await"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
)

// TestQueryAPIMatchesTheRecord exports the full-mix chain (about 400 transactions, three
// partitions) and checks every list, filter and page of the query API against the
// simulator's record and stash's blocks: blocks, transactions (each also through
// GetTransaction with its decoded call and events), and the decoded events and calls of
// every typed table, with filters on every kind of parameter, compared exactly.
func TestQueryAPIMatchesTheRecord(t *testing.T) {
	t.Parallel()
	ch := fullChain(t, false)
	file := writeContractsFile(t, false, allContracts...)
	e := newEnv(t, e2ePartitions)
	e.produceTo(ch.msgs, byBlock)
	r := e.start(e.e2eConfig(false, file))
	caughtUp(t, r.client, uint64(ch.blocks))
	m := newModel(t, e.pool, ch, file)
	c := r.client
	ctx := t.Context()

	t.Run("status counts the typed tables' rows", func(t *testing.T) {
		st, err := c.Status(ctx, &exportv1.StatusRequest{IncludeContractRows: true})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]uint64{}
		for _, w := range append(slices.Clone(m.events), m.calls...) {
			want[w.table.Name]++
		}
		got := map[string]uint64{}
		for _, cr := range st.GetContractRows() {
			var events, calls uint64
			for _, tr := range cr.GetTables() {
				if tr.GetRows() > 0 {
					got[tr.GetTable()] = tr.GetRows()
				}
				if tr.GetKind() == exportv1.ItemKind_ITEM_KIND_EVENT {
					events += tr.GetRows()
				} else {
					calls += tr.GetRows()
				}
			}
			if events != cr.GetEvents() || calls != cr.GetCalls() {
				t.Errorf("%s: %d events and %d calls, its tables add up to %d and %d", cr.GetContract(), cr.GetEvents(), cr.GetCalls(), events, calls)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows by typed table (-record +status):\n%s", diff)
		}
		if plain, err := c.Status(ctx, &exportv1.StatusRequest{}); err != nil || plain.GetContractRows() != nil || plain.GetBlocks() != uint64(ch.blocks) {
			t.Errorf("Status without contract rows = %v, %v", plain, err)
		}
	})

	t.Run("blocks", func(t *testing.T) {
		var total int64
		got := listAll(t, "ListBlocks", 7, func(tok string) ([]*exportv1.Block, string, error) {
			resp, err := c.ListBlocks(ctx, &exportv1.ListBlocksRequest{PageSize: 7, PageToken: tok, IncludeTotal: true})
			total = resp.GetTotalSize()
			return resp.GetBlocks(), resp.GetNextPageToken(), err
		})
		if len(got) != len(m.blocks) || total != int64(len(m.blocks)) {
			t.Fatalf("%d blocks listed (total %d), the chain has %d", len(got), total, len(m.blocks))
		}
		for i, b := range m.blocks {
			h := b.GetHeader()
			sealer := ""
			if int(h.GetSealer()) < len(h.GetSealerList()) {
				sealer = hexLower(h.GetSealerList()[h.GetSealer()])
			}
			want := &exportv1.Block{Number: h.GetNumber(), Hash: hexLower(h.GetHash()), ParentHash: hexLower(h.GetParentHash()),
				Time: timestamppb.New(time.UnixMilli(int64(h.GetTimestampMs()))), TimestampMs: h.GetTimestampMs(),
				Sealer: sealer, SealerIndex: uint32(h.GetSealer()), TransactionCount: uint32(len(b.GetTransactions())),
				GasUsed: new(big.Int).SetBytes(h.GetGasUsed()).String()}
			if !proto.Equal(got[i], want) {
				t.Errorf("block %d: %v, stash published %v", i, got[i], want)
			}
			byNumber, err := c.GetBlock(ctx, &exportv1.GetBlockRequest{Block: &exportv1.GetBlockRequest_BlockNumber{BlockNumber: h.GetNumber()}})
			if err != nil || !proto.Equal(byNumber.GetBlock(), want) {
				t.Errorf("GetBlock(%d) = %v, %v", h.GetNumber(), byNumber, err)
			}
			byHash, err := c.GetBlock(ctx, &exportv1.GetBlockRequest{Block: &exportv1.GetBlockRequest_BlockHash{BlockHash: want.Hash}})
			if err != nil || !proto.Equal(byHash.GetBlock(), want) {
				t.Errorf("GetBlock(%s) = %v, %v", want.Hash, byHash, err)
			}
		}
		// A time range: [time of block 10, time of block 20).
		from, to := got[10].GetTime(), got[20].GetTime()
		var want []uint64
		for _, b := range got {
			if !b.GetTime().AsTime().Before(from.AsTime()) && b.GetTime().AsTime().Before(to.AsTime()) {
				want = append(want, b.GetNumber())
			}
		}
		resp, err := c.ListBlocks(ctx, &exportv1.ListBlocksRequest{FromTime: from, ToTime: to, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var numbers []uint64
		for _, b := range resp.GetBlocks() {
			numbers = append(numbers, b.GetNumber())
		}
		if diff := cmp.Diff(want, numbers); diff != "" || len(want) == 0 {
			t.Errorf("blocks of [%s, %s) (-want +got):\n%s", from.AsTime(), to.AsTime(), diff)
		}
		if _, err := c.GetBlock(ctx, &exportv1.GetBlockRequest{Block: &exportv1.GetBlockRequest_BlockNumber{BlockNumber: 1 << 40}}); status.Code(err) != codes.NotFound {
			t.Errorf("GetBlock of a block not stored: %v, want NotFound", err)
		}
	})

	t.Run("transactions", func(t *testing.T) {
		all := listAll(t, "ListTransactions", 50, func(tok string) ([]*exportv1.Transaction, string, error) {
			resp, err := c.ListTransactions(ctx, &exportv1.ListTransactionsRequest{PageSize: 50, PageToken: tok})
			return resp.GetTransactions(), resp.GetNextPageToken(), err
		})
		byHash := map[string]*exportv1.Transaction{}
		var prev *exportv1.Transaction
		for _, x := range all {
			if _, dup := byHash[x.GetHash()]; dup {
				t.Errorf("transaction %s listed twice", x.GetHash())
			}
			byHash[x.GetHash()] = x
			if prev != nil && (x.GetBlockNumber() < prev.GetBlockNumber() || x.GetBlockNumber() == prev.GetBlockNumber() && x.GetTransactionIndex() <= prev.GetTransactionIndex()) {
				t.Errorf("transaction %s (block %d, index %d) listed after block %d index %d", x.GetHash(), x.GetBlockNumber(), x.GetTransactionIndex(), prev.GetBlockNumber(), prev.GetTransactionIndex())
			}
			prev = x
		}
		if len(all) != len(m.recs) {
			t.Errorf("%d transactions listed, the record has %d", len(all), len(m.recs))
		}
		for _, rec := range m.recs {
			x := byHash[strings.ToLower(rec.TxHash.Hex())]
			if x == nil {
				t.Errorf("transaction %x not listed", rec.TxHash)
				continue
			}
			pos := m.txs[rec.TxHash]
			to, created := strings.ToLower(rec.To.Hex()), ""
			if rec.Deploy {
				to, created = "", strings.ToLower(rec.To.Hex())
				if rec.Reverted {
					created = ""
				}
			}
			reason := ""
			if rec.Reverted {
				reason = rec.RevertReason
			}
			if x.GetBlockNumber() != pos.block || x.GetTransactionIndex() != pos.index || x.GetFrom() != strings.ToLower(rec.From.Hex()) ||
				x.GetTo() != to || x.GetContractAddress() != created || (x.GetStatus() != 0) != rec.Reverted || x.GetRevertReason() != reason ||
				!x.GetBlockTime().AsTime().Equal(pos.time) {
				t.Errorf("transaction %x: %v; record: block %d index %d from %s to %q created %q reverted %v %q", rec.TxHash, x, pos.block, pos.index,
					strings.ToLower(rec.From.Hex()), to, created, rec.Reverted, rec.RevertReason)
			}
		}
		// Filters, each against the record.
		sender := m.recs[len(m.recs)/2].From
		var asset []common.Address
		for a, name := range m.known {
			if name == "Asset" {
				asset = append(asset, a)
			}
		}
		slices.SortFunc(asset, func(a, b common.Address) int { return strings.Compare(a.Hex(), b.Hex()) })
		if len(asset) == 0 {
			t.Fatal("the chain has no Asset")
		}
		inAsset := func(a common.Address) bool { return m.known[a] == "Asset" }
		mid := uint64(ch.blocks / 2)
		hi := mid + 10
		for _, tc := range []struct {
			name string
			req  *exportv1.ListTransactionsRequest
			want func(rec *recTx) bool
		}{
			{"from", &exportv1.ListTransactionsRequest{From: strings.ToLower(sender.Hex())}, func(r *recTx) bool { return r.From == sender }},
			{"to", &exportv1.ListTransactionsRequest{To: asset[0].Hex()}, func(r *recTx) bool { return !r.Deploy && r.To == asset[0] }},
			{"contract", &exportv1.ListTransactionsRequest{Contract: "Asset"}, func(r *recTx) bool { return inAsset(r.To) }},
			{"contract and method name", &exportv1.ListTransactionsRequest{Contract: "Asset", Method: "transfer"}, func(r *recTx) bool {
				return !r.Deploy && inAsset(r.To) && r.Method == "transfer"
			}},
			{"contract and constructor", &exportv1.ListTransactionsRequest{Contract: "Asset", Method: "constructor"}, func(r *recTx) bool {
				return r.Deploy && inAsset(r.To)
			}},
			{"status failed", &exportv1.ListTransactionsRequest{Status: proto.Uint32(22)}, func(r *recTx) bool { return r.Reverted }},
			{"status succeeded, block range", &exportv1.ListTransactionsRequest{Status: proto.Uint32(0), FromBlock: &mid, ToBlock: &hi}, func(r *recTx) bool {
				return !r.Reverted && r.block >= mid && r.block <= hi
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, r := range m.recTxs() {
					if tc.want(r) {
						want = append(want, strings.ToLower(r.TxHash.Hex()))
					}
				}
				var total int64
				got := listAll(t, tc.name, 9, func(tok string) ([]string, string, error) {
					req := proto.Clone(tc.req).(*exportv1.ListTransactionsRequest)
					req.PageSize, req.PageToken, req.IncludeTotal = 9, tok, true
					resp, err := c.ListTransactions(ctx, req)
					total = resp.GetTotalSize()
					var hs []string
					for _, x := range resp.GetTransactions() {
						hs = append(hs, x.GetHash())
					}
					return hs, resp.GetNextPageToken(), err
				})
				if diff := cmp.Diff(want, got); diff != "" || len(want) == 0 || total != int64(len(want)) {
					t.Errorf("%v: total %d, transactions (-record +api):\n%s", tc.req, total, diff)
				}
			})
		}
	})

	t.Run("GetTransaction", func(t *testing.T) {
		events := map[common.Hash][]wantRow{}
		for _, w := range m.events {
			events[w.rec.TxHash] = append(events[w.rec.TxHash], w)
		}
		calls := map[common.Hash]wantRow{}
		for _, w := range m.calls {
			calls[w.rec.TxHash] = w
		}
		var took time.Duration
		for _, rec := range m.recs {
			began := time.Now()
			resp, err := c.GetTransaction(ctx, &exportv1.GetTransactionRequest{TransactionHash: rec.TxHash.Hex()})
			took += time.Since(began)
			if err != nil {
				t.Fatalf("GetTransaction(%x): %v", rec.TxHash, err)
			}
			if resp.GetTransaction().GetHash() != strings.ToLower(rec.TxHash.Hex()) || resp.GetBlockHash() == "" {
				t.Errorf("GetTransaction(%x) = %v", rec.TxHash, resp.GetTransaction())
			}
			if len(resp.GetLogs()) != len(rec.Events) {
				t.Errorf("transaction %x: %d logs, the record %d events", rec.TxHash, len(resp.GetLogs()), len(rec.Events))
			}
			if w, ok := calls[rec.TxHash]; ok {
				if resp.GetCall() == nil {
					t.Errorf("transaction %x: no decoded call, want %s", rec.TxHash, w.table.Signature)
				} else {
					checkCall(t, resp.GetCall(), w)
				}
			} else if resp.GetCall() != nil {
				t.Errorf("transaction %x: decoded call %s, the record has none of a registered contract", rec.TxHash, resp.GetCall().GetMethodSignature())
			}
			want := events[rec.TxHash]
			if len(resp.GetEvents()) != len(want) {
				t.Errorf("transaction %x: %d decoded events, want %d", rec.TxHash, len(resp.GetEvents()), len(want))
				continue
			}
			for i, w := range want {
				checkEvent(t, resp.GetEvents()[i], w, m.txs)
			}
		}
		t.Logf("%d GetTransaction calls, %s each on average (one client, this machine, a 41-block chain)", len(m.recs), (took / time.Duration(len(m.recs))).Round(time.Microsecond))
		if _, err := c.GetTransaction(ctx, &exportv1.GetTransactionRequest{TransactionHash: "0x" + strings.Repeat("ab", 32)}); status.Code(err) != codes.NotFound {
			t.Errorf("GetTransaction of a transaction not stored: %v, want NotFound", err)
		}
	})

	listEvents := func(t *testing.T, req *exportv1.ListEventsRequest, size int32) ([]*exportv1.Event, int64) {
		var total int64
		got := listAll(t, "ListEvents", size, func(tok string) ([]*exportv1.Event, string, error) {
			req := proto.Clone(req).(*exportv1.ListEventsRequest)
			req.PageSize, req.PageToken, req.IncludeTotal = size, tok, true
			resp, err := c.ListEvents(ctx, req)
			total = resp.GetTotalSize()
			return resp.GetEvents(), resp.GetNextPageToken(), err
		})
		return got, total
	}
	listCalls := func(t *testing.T, req *exportv1.ListCallsRequest, size int32) ([]*exportv1.Call, int64) {
		var total int64
		got := listAll(t, "ListCalls", size, func(tok string) ([]*exportv1.Call, string, error) {
			req := proto.Clone(req).(*exportv1.ListCallsRequest)
			req.PageSize, req.PageToken, req.IncludeTotal = size, tok, true
			resp, err := c.ListCalls(ctx, req)
			total = resp.GetTotalSize()
			return resp.GetCalls(), resp.GetNextPageToken(), err
		})
		return got, total
	}
	compareEvents := func(t *testing.T, what string, got []*exportv1.Event, total int64, want []wantRow) {
		t.Helper()
		if len(got) != len(want) || total != int64(len(want)) {
			var gk []string
			for _, g := range got {
				gk = append(gk, fmt.Sprintf("%s/%d", g.GetTransactionHash(), g.GetLogIndex()))
			}
			var wk []string
			for _, w := range want {
				wk = append(wk, strings.ToLower(w.key))
			}
			t.Errorf("%s: %d events (total %d), the record %d (-record +api):\n%s", what, len(got), total, len(want), cmp.Diff(wk, gk))
			return
		}
		for i, w := range want {
			checkEvent(t, got[i], w, m.txs)
		}
	}
	compareCalls := func(t *testing.T, what string, got []*exportv1.Call, total int64, want []wantRow) {
		t.Helper()
		if len(got) != len(want) || total != int64(len(want)) {
			var gk []string
			for _, g := range got {
				gk = append(gk, g.GetTransactionHash())
			}
			var wk []string
			for _, w := range want {
				wk = append(wk, strings.ToLower(w.key))
			}
			t.Errorf("%s: %d calls (total %d), the record %d (-record +api):\n%s", what, len(got), total, len(want), cmp.Diff(wk, gk))
			return
		}
		for i, w := range want {
			checkCall(t, got[i], w)
		}
	}

	t.Run("events", func(t *testing.T) {
		got, total := listEvents(t, &exportv1.ListEventsRequest{}, 13)
		compareEvents(t, "every event", got, total, m.events)
		for _, k := range m.reg.Contracts() {
			got, total := listEvents(t, &exportv1.ListEventsRequest{Contract: k.Name}, 11)
			compareEvents(t, k.Name, got, total, rowsWhere(m.events, func(w wantRow) bool { return w.table.Contract == k.Name }))
			for _, tb := range k.Tables {
				if tb.Kind != contract.EventTable {
					continue
				}
				got, total := listEvents(t, &exportv1.ListEventsRequest{Contract: k.Name, Event: tb.Signature}, 5)
				compareEvents(t, tb.Signature, got, total, rowsWhere(m.events, func(w wantRow) bool { return w.table == tb }))
				got, total = listEvents(t, &exportv1.ListEventsRequest{Contract: k.Name, Event: tb.Item}, 5)
				compareEvents(t, k.Name+"."+tb.Item, got, total, rowsWhere(m.events, func(w wantRow) bool { return w.table.Contract == k.Name && w.table.Item == tb.Item }))
			}
		}
		for a, name := range m.known {
			got, total := listEvents(t, &exportv1.ListEventsRequest{ContractAddress: a.Hex()}, 17)
			compareEvents(t, name+" at "+a.Hex(), got, total, rowsWhere(m.events, func(w wantRow) bool { return w.event.Address == a }))
		}
		lo, hi := uint64(10), uint64(25)
		got, total = listEvents(t, &exportv1.ListEventsRequest{FromBlock: &lo, ToBlock: &hi}, 8)
		compareEvents(t, "blocks 10-25", got, total, rowsWhere(m.events, func(w wantRow) bool { return w.block >= lo && w.block <= hi }))
	})

	t.Run("calls", func(t *testing.T) {
		got, total := listCalls(t, &exportv1.ListCallsRequest{}, 13)
		compareCalls(t, "every call", got, total, m.calls)
		for _, k := range m.reg.Contracts() {
			for _, tb := range k.Tables {
				if tb.Kind == contract.EventTable {
					continue
				}
				got, total := listCalls(t, &exportv1.ListCallsRequest{Contract: k.Name, Method: tb.Signature}, 6)
				compareCalls(t, tb.Signature, got, total, rowsWhere(m.calls, func(w wantRow) bool { return w.table == tb }))
			}
		}
		failed := uint32(22)
		got, total = listCalls(t, &exportv1.ListCallsRequest{Status: &failed}, 4)
		compareCalls(t, "failed calls", got, total, rowsWhere(m.calls, func(w wantRow) bool { return w.rec.Reverted }))
		sender := m.calls[len(m.calls)/2].rec.From
		got, total = listCalls(t, &exportv1.ListCallsRequest{From: sender.Hex()}, 7)
		compareCalls(t, "calls from "+sender.Hex(), got, total, rowsWhere(m.calls, func(w wantRow) bool { return w.rec.From == sender }))
	})

	t.Run("re-export restores rows", func(t *testing.T) {
		var tables []string
		for _, tb := range m.reg.Tables() {
			if tb.Contract == "Asset" {
				tables = append(tables, tb.Name)
			}
		}
		deleted := 0
		for _, name := range tables {
			tag, err := e.pool.Exec(ctx, `DELETE FROM export.`+pgx.Identifier{name}.Sanitize()+` WHERE block_number BETWEEN 10 AND 30`)
			if err != nil {
				t.Fatal(err)
			}
			deleted += int(tag.RowsAffected())
		}
		if deleted == 0 {
			t.Fatal("Asset has no rows in blocks 10-30")
		}
		for _, bad := range []*exportv1.ReExportRequest{{Contract: "Nope"}, {FromBlock: proto.Uint64(9), ToBlock: proto.Uint64(3)}} {
			if _, err := c.ReExport(ctx, bad); status.Code(err) != codes.InvalidArgument {
				t.Errorf("ReExport(%v) = %v, want InvalidArgument", bad, err)
			}
		}
		resp, err := c.ReExport(ctx, &exportv1.ReExportRequest{Contract: "Asset", FromBlock: proto.Uint64(10), ToBlock: proto.Uint64(30)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(resp.GetContracts(), []string{"Asset"}) || resp.GetFromBlock() != 10 || resp.GetToBlock() != 30 {
			t.Errorf("ReExport = %v", resp)
		}
		b := await.Value(t, 60*time.Second, "the re-export of Asset finished", func() (*exportv1.Backfill, error) {
			got, err := c.GetContract(ctx, &exportv1.GetContractRequest{Contract: &exportv1.GetContractRequest_Name{Name: "Asset"}})
			if err != nil {
				return nil, err
			}
			if b := got.GetContract().GetBackfill(); b == nil || b.GetRunning() {
				return nil, fmt.Errorf("not yet: %v", b)
			}
			return got.GetContract().GetBackfill(), nil
		})
		if b.GetError() != "" || b.GetDoneBlock() != 30 || b.GetFromBlock() != 10 || b.GetPass() != "calls and logs" || b.GetItems() == 0 {
			t.Errorf("re-export ended with %v", b)
		}
		got, total := listEvents(t, &exportv1.ListEventsRequest{Contract: "Asset"}, 100)
		compareEvents(t, "Asset after its re-export", got, total, rowsWhere(m.events, func(w wantRow) bool { return w.table.Contract == "Asset" }))
		calls, total := listCalls(t, &exportv1.ListCallsRequest{Contract: "Asset"}, 100)
		compareCalls(t, "Asset after its re-export", calls, total, rowsWhere(m.calls, func(w wantRow) bool { return w.table.Contract == "Asset" }))
		t.Logf("%d rows deleted, restored by %v", deleted, b)
	})

	// Filters on every parameter column of every table holding rows, with values taken from
	// the record: equality, the ranges around the middle row's value, 2^64 and 0 as bounds of
	// integers (exact beyond 64 bits, negative values), and two filters ANDed.
	t.Run("filters", func(t *testing.T) {
		cases := 0
		kinds := map[string]int{}
		for _, tb := range m.reg.Tables() {
			source := m.calls
			if tb.Kind == contract.EventTable {
				source = m.events
			}
			rows := rowsWhere(source, func(w wantRow) bool { return w.table == tb })
			if len(rows) == 0 {
				continue
			}
			middle := rows[len(rows)/2]
			var fs []*exportv1.ParamFilter
			for _, col := range tb.Columns {
				v, ok := middle.params[col.Name]
				if !ok || v == nil {
					continue
				}
				text, ok := filterText(v)
				if !ok {
					continue // jsonb: equality on JSON only, covered by the validation tests
				}
				ops := []exportv1.FilterOp{exportv1.FilterOp_FILTER_OP_EQ, exportv1.FilterOp_FILTER_OP_NE}
				values := []string{text}
				switch col.SQLType {
				case "numeric(78,0)":
					ops = append(ops, exportv1.FilterOp_FILTER_OP_LT, exportv1.FilterOp_FILTER_OP_LE, exportv1.FilterOp_FILTER_OP_GT, exportv1.FilterOp_FILTER_OP_GE)
					values = append(values, "18446744073709551616", "0", "-1")
				case "bytea", "text":
					ops = append(ops, exportv1.FilterOp_FILTER_OP_LT, exportv1.FilterOp_FILTER_OP_GE)
				}
				if col.SQLType == "text" && col.ABIType != "address" {
					ops = ops[:2] // text order follows the database's collation
				}
				fs = append(fs, &exportv1.ParamFilter{Param: col.Param, Op: exportv1.FilterOp_FILTER_OP_EQ, Value: text})
				for _, op := range ops {
					for _, val := range values {
						f := &exportv1.ParamFilter{Param: col.Param, Op: op, Value: val}
						want := rowsWhere(rows, func(w wantRow) bool { return holds(t, w.params[col.Name], op, val) })
						what := fmt.Sprintf("%s where %s %v %s", tb.Signature, col.Param, op, val)
						if tb.Kind == contract.EventTable {
							got, total := listEvents(t, &exportv1.ListEventsRequest{Contract: tb.Contract, Event: tb.Signature, Filters: []*exportv1.ParamFilter{f}}, 50)
							compareEvents(t, what, got, total, want)
						} else {
							got, total := listCalls(t, &exportv1.ListCallsRequest{Contract: tb.Contract, Method: tb.Signature, Filters: []*exportv1.ParamFilter{f}}, 50)
							compareCalls(t, what, got, total, want)
						}
						cases++
						kinds[col.SQLType]++
						if len(want) > 0 && len(want) < len(rows) {
							kinds["selective"]++
						}
						if n, ok := new(big.Int).SetString(val, 10); ok && n.BitLen() > 64 && len(want) > 0 {
							kinds["beyond 2^64"]++
						}
					}
				}
			}
			if len(fs) >= 2 {
				and := fs[:2]
				want := rowsWhere(rows, func(w wantRow) bool {
					for _, f := range and {
						if !holds(t, w.params[colNamed(tb, f.Param)], f.Op, f.Value) {
							return false
						}
					}
					return true
				})
				what := fmt.Sprintf("%s where %s = %s and %s = %s", tb.Signature, and[0].Param, and[0].Value, and[1].Param, and[1].Value)
				if tb.Kind == contract.EventTable {
					got, total := listEvents(t, &exportv1.ListEventsRequest{Contract: tb.Contract, Event: tb.Signature, Filters: and}, 50)
					compareEvents(t, what, got, total, want)
				} else {
					got, total := listCalls(t, &exportv1.ListCallsRequest{Contract: tb.Contract, Method: tb.Signature, Filters: and}, 50)
					compareCalls(t, what, got, total, want)
				}
				cases++
			}
		}
		for _, k := range []string{"numeric(78,0)", "text", "bytea", "boolean", "selective", "beyond 2^64"} {
			if kinds[k] == 0 {
				t.Errorf("no filter case of %s: the chain does not cover it", k)
			}
		}
		t.Logf("%d filter cases checked against the record: %v", cases, kinds)
	})
}

// recTx is a recorded transaction with its block.
type recTx struct {
	*sent.Record
	block uint64
}

// recTxs returns the record in chain order.
func (m *model) recTxs() []*recTx {
	out := make([]*recTx, 0, len(m.recs))
	for i := range m.recs {
		r := &m.recs[i]
		out = append(out, &recTx{Record: r, block: m.txs[r.TxHash].block})
	}
	slices.SortFunc(out, func(a, b *recTx) int {
		pa, pb := m.txs[a.TxHash], m.txs[b.TxHash]
		if pa.block != pb.block {
			return int(pa.block) - int(pb.block)
		}
		return int(pa.index) - int(pb.index)
	})
	return out
}

func rowsWhere(rows []wantRow, keep func(wantRow) bool) []wantRow {
	var out []wantRow
	for _, w := range rows {
		if keep(w) {
			out = append(out, w)
		}
	}
	return out
}

func colNamed(tb *contract.Table, param string) string {
	for _, c := range tb.Columns {
		if c.Param == param {
			return c.Name
		}
	}
	return ""
}

// filterText is a to_jsonb value as a filter value: decimal, 0x hex, true/false, the text.
func filterText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case bool:
		return fmt.Sprint(x), true
	case string:
		if h, ok := strings.CutPrefix(x, `\x`); ok {
			return "0x" + h, true
		}
		return x, true
	}
	return "", false
}

// holds computes a filter on a record value (to_jsonb form), independently of the API's
// code: integers with math/big, bytes and addresses by their hex (same length: byte order),
// the rest as equal or not.
func holds(t *testing.T, v any, op exportv1.FilterOp, value string) bool {
	t.Helper()
	if v == nil {
		return false // NULL matches no comparison
	}
	text, _ := filterText(v)
	var c int
	if n, ok := v.(json.Number); ok {
		a, _ := new(big.Int).SetString(n.String(), 10)
		b, ok := new(big.Int).SetString(value, 10)
		if !ok {
			t.Fatalf("filter value %q is not an integer", value)
		}
		c = a.Cmp(b)
	} else {
		c = strings.Compare(strings.ToLower(text), strings.ToLower(value))
	}
	switch op {
	case exportv1.FilterOp_FILTER_OP_EQ, exportv1.FilterOp_FILTER_OP_UNSPECIFIED:
		return c == 0
	case exportv1.FilterOp_FILTER_OP_NE:
		return c != 0
	case exportv1.FilterOp_FILTER_OP_LT:
		return c < 0
	case exportv1.FilterOp_FILTER_OP_LE:
		return c <= 0
	case exportv1.FilterOp_FILTER_OP_GT:
		return c > 0
	}
	return c >= 0
}
