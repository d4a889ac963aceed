package export_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/libs/await"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export"
)

// serving waits until the API answers from the storage (after Sync).
func serving(t *testing.T, c exportv1.ExportServiceClient) {
	t.Helper()
	await.For(t, 60*time.Second, "the API serves the storage", func() error {
		_, err := c.ListContracts(t.Context(), &exportv1.ListContractsRequest{})
		return err
	})
}

// eventKey names an event by transaction hash and log index, as wantRow.key does.
func eventKey(e *exportv1.Event) string {
	return fmt.Sprintf("%s/%d", e.GetTransactionHash(), e.GetLogIndex())
}

func wantKeys(rows []wantRow) []string {
	out := make([]string, 0, len(rows))
	for _, w := range rows {
		out = append(out, strings.ToLower(w.key))
	}
	return out
}

// TestPagingWhileBlocksArrive pages through the events and the transactions in small pages
// while the rest of the chain is exported (in block order, one partition): no row comes twice
// or out of order, and every row up to the last one seen comes, so nothing is skipped; the
// rows stored before paging began all come.
func TestPagingWhileBlocksArrive(t *testing.T) {
	t.Parallel()
	ch := fullChain(t, false)
	file := writeContractsFile(t, false, allContracts...)
	e := newEnv(t, 1)
	first := 15
	e.produceTo(ch.msgs[:first], func(kafkago.Message) int { return 0 })
	r := e.start(e.e2eConfig(false, file))
	caughtUp(t, r.client, uint64(first))
	c := r.client
	ctx := t.Context()

	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for _, msg := range ch.msgs[first:] {
			e.produceTo([]kafkago.Message{msg}, func(kafkago.Message) int { return 0 })
			time.Sleep(40 * time.Millisecond)
		}
	}()
	var events []*exportv1.Event
	var txs []*exportv1.Transaction
	evTok, txTok := "", ""
	for evDone, txDone := false, false; !evDone || !txDone; {
		if !evDone {
			resp, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{PageSize: 3, PageToken: evTok})
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, resp.GetEvents()...)
			evTok, evDone = resp.GetNextPageToken(), resp.GetNextPageToken() == ""
		}
		if !txDone {
			resp, err := c.ListTransactions(ctx, &exportv1.ListTransactionsRequest{PageSize: 2, PageToken: txTok})
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, resp.GetTransactions()...)
			txTok, txDone = resp.GetNextPageToken(), resp.GetNextPageToken() == ""
		}
		time.Sleep(15 * time.Millisecond)
	}
	<-produced
	caughtUp(t, c, uint64(ch.blocks))
	m := newModel(t, e.pool, ch, file)
	if len(events) == 0 || len(txs) == 0 {
		t.Fatal("nothing paged")
	}
	last := events[len(events)-1]
	lastBlock := last.GetBlockNumber()
	var want []wantRow
	for _, w := range m.events {
		if w.block < lastBlock || (w.block == lastBlock && (w.tx < last.GetTransactionIndex() || w.tx == last.GetTransactionIndex() && w.log <= last.GetLogIndex())) {
			want = append(want, w)
		}
	}
	got := make([]string, 0, len(events))
	for _, ev := range events {
		got = append(got, eventKey(ev))
	}
	if diff := cmp.Diff(wantKeys(want), got); diff != "" {
		t.Errorf("events paged while blocks arrived, up to block %d (-record +paged):\n%s", lastBlock, diff)
	}
	if lastBlock < uint64(first) {
		t.Errorf("paging ended at block %d, before the %d blocks stored when it began", lastBlock, first)
	}
	lastTx := txs[len(txs)-1]
	var wantTx []string
	for _, x := range m.recTxs() {
		p := m.txs[x.TxHash]
		if p.block < lastTx.GetBlockNumber() || p.block == lastTx.GetBlockNumber() && p.index <= lastTx.GetTransactionIndex() {
			wantTx = append(wantTx, strings.ToLower(x.TxHash.Hex()))
		}
	}
	var gotTx []string
	for _, x := range txs {
		gotTx = append(gotTx, x.GetHash())
	}
	if diff := cmp.Diff(wantTx, gotTx); diff != "" {
		t.Errorf("transactions paged while blocks arrived, up to block %d (-record +paged):\n%s", lastTx.GetBlockNumber(), diff)
	}
	t.Logf("paged %d events up to block %d and %d transactions up to block %d while blocks %d-%d arrived",
		len(events), lastBlock, len(txs), lastTx.GetBlockNumber(), first, ch.blocks-1)
}

// TestSubscriptionsAcrossInstances subscribes, through one of two export instances sharing
// the blocks topic (three partitions), to every event from block 0 and to a filtered call
// stream while the chain arrives in parts: each stream gets every matching row of the record
// exactly once, whichever instance wrote it, in the commit order of the outbox (the order
// stored history and live rows share, so the seam between them neither repeats nor skips),
// woken by the commits' notifications. A stream resumed from a cursor continues exactly after
// it; one from a block starts there; one of an address gets that deployment's events.
func TestSubscriptionsAcrossInstances(t *testing.T) {
	t.Parallel()
	ch := fullChain(t, false)
	file := writeContractsFile(t, false, allContracts...)
	e := newEnv(t, e2ePartitions)
	// Subscriptions look at the outbox unwoken every 5 minutes only: the live rows come
	// because the commits' notifications wake them, those of the other instance included.
	cfg := e.e2eConfig(false, file)
	cfg.SubscribePoll = 5 * time.Minute
	a, b := e.start(cfg), e.start(cfg)
	serving(t, a.client)
	serving(t, b.client)
	// A third of the chain before the subscriptions start: they replay it, then go live.
	third := len(ch.msgs) / 3
	e.produceTo(ch.msgs[:third], byBlock)
	caughtUp(t, a.client, uint64(third))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	events, err := a.client.SubscribeEvents(ctx, &exportv1.SubscribeEventsRequest{Start: &exportv1.SubscribeEventsRequest_FromBlock{FromBlock: 0}})
	if err != nil {
		t.Fatal(err)
	}
	const method = "transfer(address,uint256,string)"
	calls, err := b.client.SubscribeCalls(ctx, &exportv1.SubscribeCallsRequest{Contract: "Asset", Method: method,
		Filters: []*exportv1.ParamFilter{{Param: "amount", Op: exportv1.FilterOp_FILTER_OP_GE, Value: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Both streams are read while the rest of the chain arrives (live).
	evs, cls := collect(events), collect(calls)
	e.produceTo(ch.msgs[third:2*third], byBlock)
	time.Sleep(300 * time.Millisecond)
	e.produceTo(ch.msgs[2*third:], byBlock)

	// The record's rows, known once export has the whole chain (contracts created by contract
	// code count when learned).
	caughtUp(t, a.client, uint64(ch.blocks))
	caughtUp(t, b.client, uint64(ch.blocks))
	m := newModel(t, e.pool, ch, file)
	wantCalls := rowsWhere(m.calls, func(w wantRow) bool {
		return w.table.Contract == "Asset" && w.table.Signature == method && holds(t, w.params[colNamed(w.table, "amount")], exportv1.FilterOp_FILTER_OP_GE, "1")
	})
	if len(wantCalls) == 0 || len(m.events) == 0 {
		t.Fatal("the record has nothing to subscribe to")
	}
	gotEvents := evs.wait(t, len(m.events))
	gotCalls := cls.wait(t, len(wantCalls))
	cancel()

	// Exactly the record's rows, once each, each with its values.
	byKey := map[string]wantRow{}
	for _, w := range m.events {
		byKey[strings.ToLower(w.key)] = w
	}
	seen := map[string]bool{}
	var order []string
	for _, g := range gotEvents {
		k := eventKey(g.GetEvent())
		if seen[k] {
			t.Errorf("event %s sent twice", k)
		}
		seen[k] = true
		order = append(order, k)
		w, ok := byKey[k]
		if !ok {
			t.Errorf("event %s is not in the record", k)
			continue
		}
		checkEvent(t, g.GetEvent(), w, m.txs)
	}
	if len(seen) != len(m.events) {
		t.Errorf("%d distinct events streamed, the record has %d", len(seen), len(m.events))
	}
	// In commit order: the outbox's sequence.
	rows, err := e.pool.Query(t.Context(), `SELECT '0x' || encode(transaction_hash, 'hex') || '/' || log_index FROM export.outbox
		WHERE topic = 'bcos.chain0.group1.events.v1' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var committed []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		committed = append(committed, k)
	}
	if diff := cmp.Diff(committed, order); diff != "" {
		t.Errorf("events not streamed in commit order (-outbox +stream):\n%s", diff)
	}
	var gotCallKeys []string
	for i, g := range gotCalls {
		gotCallKeys = append(gotCallKeys, g.GetCall().GetTransactionHash())
		if w := findCall(wantCalls, g.GetCall().GetTransactionHash()); w != nil {
			checkCall(t, g.GetCall(), *w)
		} else {
			t.Errorf("call %d %s is not a matching call of the record", i, g.GetCall().GetTransactionHash())
		}
	}
	if len(gotCallKeys) != len(wantCalls) {
		t.Errorf("%d calls streamed, the record has %d", len(gotCallKeys), len(wantCalls))
	}

	// Resumed from the cursor of the middle event: exactly the rest.
	ctx2, cancel2 := context.WithTimeout(t.Context(), time.Minute)
	defer cancel2()
	mid := len(gotEvents) / 2
	resumed, err := b.client.SubscribeEvents(ctx2, &exportv1.SubscribeEventsRequest{Start: &exportv1.SubscribeEventsRequest_Cursor{Cursor: gotEvents[mid].GetCursor()}})
	if err != nil {
		t.Fatal(err)
	}
	rest := readStream(t, resumed, len(gotEvents)-mid-1)
	for i, g := range rest {
		if want := gotEvents[mid+1+i]; eventKey(g.GetEvent()) != eventKey(want.GetEvent()) || g.GetCursor() != want.GetCursor() {
			t.Fatalf("resumed stream message %d is %s, want %s", i, eventKey(g.GetEvent()), eventKey(want.GetEvent()))
		}
	}
	// From block 20 of Ledger's events: exactly those of the record.
	fromBlock, err := a.client.SubscribeEvents(ctx2, &exportv1.SubscribeEventsRequest{Contract: "Ledger", Start: &exportv1.SubscribeEventsRequest_FromBlock{FromBlock: 20}})
	if err != nil {
		t.Fatal(err)
	}
	wantLedger := rowsWhere(m.events, func(w wantRow) bool { return w.table.Contract == "Ledger" && w.block >= 20 })
	got := map[string]bool{}
	for _, g := range readStream(t, fromBlock, len(wantLedger)) {
		got[eventKey(g.GetEvent())] = true
	}
	for _, w := range wantLedger {
		if !got[strings.ToLower(w.key)] {
			t.Errorf("Ledger event %s of block %d not streamed from block 20", w.key, w.block)
		}
	}
	// One deployment's events, by its address.
	var ledger string
	for a, name := range m.known {
		if name == "Ledger" && len(rowsWhere(m.events, func(w wantRow) bool { return w.event.Address == a })) > 0 {
			ledger = strings.ToLower(a.Hex())
		}
	}
	byAddress, err := b.client.SubscribeEvents(ctx2, &exportv1.SubscribeEventsRequest{ContractAddress: ledger})
	if err != nil {
		t.Fatal(err)
	}
	wantAt := rowsWhere(m.events, func(w wantRow) bool { return strings.EqualFold(w.event.Address.Hex(), ledger) })
	gotAt := collect(byAddress).wait(t, len(wantAt))
	for _, g := range gotAt {
		if g.GetEvent().GetContractAddress() != ledger {
			t.Errorf("event %s of %s streamed for %s", eventKey(g.GetEvent()), g.GetEvent().GetContractAddress(), ledger)
		}
	}
	t.Logf("streamed %d events and %d filtered calls exactly once across two instances; resumed %d after a cursor; %d Ledger events from block 20",
		len(gotEvents), len(gotCalls), len(rest), len(wantLedger))
}

func findCall(rows []wantRow, hash string) *wantRow {
	for i := range rows {
		if strings.EqualFold(rows[i].key, hash) {
			return &rows[i]
		}
	}
	return nil
}

// collected is what a stream sent so far.
type collected[T any] struct {
	mu   sync.Mutex
	msgs []*T
	err  error
}

// collect reads a stream in the background until it ends.
func collect[T any](s grpc.ServerStreamingClient[T]) *collected[T] {
	c := &collected[T]{}
	go func() {
		for {
			m, err := s.Recv()
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// wait waits for n messages, then a second more to see that no other one comes.
func (c *collected[T]) wait(t *testing.T, n int) []*T {
	t.Helper()
	await.For(t, 60*time.Second, fmt.Sprintf("%d streamed messages", n), func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err != nil {
			t.Fatalf("stream ended after %d messages: %v", len(c.msgs), c.err)
		}
		if len(c.msgs) < n {
			return fmt.Errorf("%d of %d", len(c.msgs), n)
		}
		return nil
	})
	time.Sleep(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.msgs) != n {
		t.Errorf("%d messages streamed, want %d", len(c.msgs), n)
	}
	return c.msgs
}

// TestAPIRefusesBadInput: every malformed or unknown input is an InvalidArgument naming its
// field (never Internal), unknown blocks and transactions are NotFound, and before the
// storage is open the API is Unavailable.
func TestAPIRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	file := writeContractsFile(t, false, allContracts...)

	// Before Run: Unavailable (Status answers from the start).
	svc, err := export.New(e.config(file), app.Deps{Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Pool: e.pool})
	if err != nil {
		t.Fatal(err)
	}
	idle := serve(t, svc)
	if _, err := idle.ListEvents(t.Context(), &exportv1.ListEventsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("ListEvents before the storage is open: %v, want Unavailable", err)
	}
	if _, err := idle.Status(t.Context(), &exportv1.StatusRequest{}); err != nil {
		t.Errorf("Status before the storage is open: %v", err)
	}

	r := e.start(e.config(file))
	serving(t, r.client)
	c := r.client
	ctx := t.Context()
	addr := "0x" + strings.Repeat("12", 20)
	asset := func(fs ...*exportv1.ParamFilter) *exportv1.ListEventsRequest {
		return &exportv1.ListEventsRequest{Contract: "Asset", Event: "Transfer", Filters: fs}
	}
	tok := func() string {
		// A token of another query (a full page of blocks needs blocks: made by hand instead).
		resp, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Asset", PageSize: 1})
		if err == nil && resp.GetNextPageToken() != "" {
			return resp.GetNextPageToken()
		}
		return "eyJrIjpbMSwwLDBdLCJxIjoiMDAwMDAwMDAwMDAwMDAwMCJ9" // {"k":[1,0,0],"q":"0000000000000000"}
	}()
	huge := int32(5000)
	lo, hi := uint64(9), uint64(3)
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"block hash malformed", func() error {
			_, err := c.GetBlock(ctx, &exportv1.GetBlockRequest{Block: &exportv1.GetBlockRequest_BlockHash{BlockHash: "0x1234"}})
			return err
		}, "block_hash"},
		{"block not named", func() error { _, err := c.GetBlock(ctx, &exportv1.GetBlockRequest{}); return err }, "block_number"},
		{"transaction hash malformed", func() error {
			_, err := c.GetTransaction(ctx, &exportv1.GetTransactionRequest{TransactionHash: "zz"})
			return err
		}, "transaction_hash"},
		{"unknown contract", func() error { _, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Nope"}); return err }, "contract"},
		{"unknown event", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Asset", Event: "Nope"})
			return err
		}, "event"},
		{"event without contract", func() error { _, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Event: "Transfer"}); return err }, "event"},
		{"unknown method", func() error {
			_, err := c.ListCalls(ctx, &exportv1.ListCallsRequest{Contract: "Asset", Method: "Transfer"})
			return err
		}, "method"},
		{"contract address malformed", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{ContractAddress: "0xabc"})
			return err
		}, "contract_address"},
		{"contract address unknown", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{ContractAddress: addr})
			return err
		}, "contract_address"},
		{"filter on a missing parameter", func() error {
			_, err := c.ListEvents(ctx, asset(&exportv1.ParamFilter{Param: "nope", Value: "1"}))
			return err
		}, "filters[0].param"},
		{"integer filter value not an integer", func() error {
			_, err := c.ListEvents(ctx, asset(&exportv1.ParamFilter{Param: "to", Value: addr}, &exportv1.ParamFilter{Param: "amount", Op: exportv1.FilterOp_FILTER_OP_GT, Value: "1.5"}))
			return err
		}, "filters[1].value"},
		{"address filter value malformed", func() error {
			_, err := c.ListEvents(ctx, asset(&exportv1.ParamFilter{Param: "from", Value: "0x12"}))
			return err
		}, "filters[0].value"},
		{"ordering a tuple", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Ledger", Event: "EntryRecorded",
				Filters: []*exportv1.ParamFilter{{Param: "entry", Op: exportv1.FilterOp_FILTER_OP_LT, Value: "{}"}}})
			return err
		}, "filters[0].op"},
		{"filters without an event", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Asset", Filters: []*exportv1.ParamFilter{{Param: "amount", Value: "1"}}})
			return err
		}, "filters"},
		{"filters on overloads", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Ledger", Event: "Posted", Filters: []*exportv1.ParamFilter{{Param: "account", Value: addr}}})
			return err
		}, "event"},
		{"page too big", func() error { _, err := c.ListBlocks(ctx, &exportv1.ListBlocksRequest{PageSize: huge}); return err }, "page_size"},
		{"page size negative", func() error { _, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{PageSize: -1}); return err }, "page_size"},
		{"page token garbage", func() error {
			_, err := c.ListTransactions(ctx, &exportv1.ListTransactionsRequest{PageToken: "%%%"})
			return err
		}, "page_token"},
		{"page token of another query", func() error {
			_, err := c.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Ledger", PageToken: tok})
			return err
		}, "page_token"},
		{"sender malformed", func() error {
			_, err := c.ListTransactions(ctx, &exportv1.ListTransactionsRequest{From: "alice"})
			return err
		}, "from"},
		{"method without contract", func() error {
			_, err := c.ListTransactions(ctx, &exportv1.ListTransactionsRequest{Method: "transfer"})
			return err
		}, "method"},
		{"block range reversed", func() error {
			_, err := c.ListBlocks(ctx, &exportv1.ListBlocksRequest{FromBlock: &lo, ToBlock: &hi})
			return err
		}, "to_block"},
		{"subscription cursor garbage", func() error {
			s, err := c.SubscribeEvents(ctx, &exportv1.SubscribeEventsRequest{Start: &exportv1.SubscribeEventsRequest_Cursor{Cursor: "nope"}})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, "cursor"},
		{"subscription filter on a missing parameter", func() error {
			s, err := c.SubscribeCalls(ctx, &exportv1.SubscribeCallsRequest{Contract: "Asset", Method: "issue", Filters: []*exportv1.ParamFilter{{Param: "nope"}}})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, "filters[0].param"},
		{"contract by malformed address", func() error {
			_, err := c.GetContract(ctx, &exportv1.GetContractRequest{Contract: &exportv1.GetContractRequest_Address{Address: "0x1"}})
			return err
		}, "address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tc.field+":") {
				t.Errorf("got %v, want InvalidArgument naming %s", err, tc.field)
			}
			t.Logf("%s", st.Message())
		})
	}
	if _, err := c.GetTransaction(ctx, &exportv1.GetTransactionRequest{TransactionHash: "0x" + strings.Repeat("00", 32)}); status.Code(err) != codes.NotFound {
		t.Errorf("GetTransaction of a transaction not stored: %v, want NotFound", err)
	}
	if _, err := c.RegisterContract(ctx, &exportv1.RegisterContractRequest{}); status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "name:") {
		t.Errorf("RegisterContract without a name: %v, want InvalidArgument naming name", err)
	}
	// A full page comes with a token; the token works with its own query only.
	resp, err := c.ListContracts(ctx, &exportv1.ListContractsRequest{})
	if err != nil || len(resp.GetContracts()) != len(allContracts) {
		t.Errorf("ListContracts = %d contracts, %v; want %d", len(resp.GetContracts()), err, len(allContracts))
	}
}

// serve serves svc's API without running it and returns a client.
func serve(t *testing.T, svc *export.Service) exportv1.ExportServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return exportv1.NewExportServiceClient(conn)
}
