package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Subscriptions read the outbox of the decoded topics, not the typed tables: its sequence
// follows commit order across every instance writing the schema (each writing transaction
// holds the export write lock), so going on after the last sequence number seen replays the
// stored history and then continues live with no gap and no duplicate at the seam, whichever
// instance wrote the rows. A caught-up subscription waits for the outbox's notification (every
// transaction that queues messages notifies at commit, see store.Listen) or, should one be
// lost, the poll interval. Messages arrive in commit order: block order within a block, and
// for the chain as a whole when one consumer applies the blocks in order.

// DefaultSubscribePoll is how long a caught-up subscription waits before looking at the
// outbox again when no notification wakes it earlier.
const DefaultSubscribePoll = time.Second

// Wakeup tells waiting subscriptions that messages were committed (export.outbox's
// notifications, see store.Listen).
type Wakeup struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewWakeup returns a Wakeup.
func NewWakeup() *Wakeup { return &Wakeup{ch: make(chan struct{})} }

// Wake wakes every subscription waiting now.
func (w *Wakeup) Wake() {
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

// C is closed by the next Wake; take it before reading, so a commit in between is not missed.
func (w *Wakeup) C() <-chan struct{} {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

// subscribeBatch is how many outbox messages one read takes.
const subscribeBatch = 500

// cursor is what a subscription cursor holds: the outbox sequence number of the message sent
// and the stream it belongs to.
type cursor struct {
	Seq  int64  `json:"s"`
	Kind string `json:"k"`
}

func encodeCursor(seq int64, kind string) string {
	b, _ := json.Marshal(cursor{Seq: seq, Kind: kind})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, kind string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Seq < 0 {
		return 0, invalid("cursor", "not a cursor of this API")
	}
	if c.Kind != kind {
		return 0, invalid("cursor", "a cursor of the %s stream, not of %s", c.Kind, kind)
	}
	return c.Seq, nil
}

// tableSet finds a selection's tables by contract and signature.
func (sel *selection) tableSet() map[[2]string]*contract.Table {
	m := map[[2]string]*contract.Table{}
	for _, t := range sel.tables {
		m[[2]string{t.Contract, t.Signature}] = t
	}
	return m
}

// matchArgs applies the selection's filters to decoded arguments.
func (sel *selection) matchArgs(args ...[]*chainv1.DecodedArg) bool {
	for _, f := range sel.filters {
		ok := false
		for _, as := range args {
			for _, a := range as {
				if a.GetName() == f.col.Param {
					ok = f.match(a.GetValue())
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// paramsOf returns a table's parameters, in its column order, from decoded arguments: as
// the lists show them, skipped parameters left out and the outputs a failed call lacks null.
func paramsOf(t *contract.Table, args ...[]*chainv1.DecodedArg) (in, out []*exportv1.Param) {
	for _, c := range t.Columns {
		p := &exportv1.Param{Name: c.Param, Type: c.ABIType, Indexed: c.Indexed, Null: true}
		for _, as := range args {
			for _, a := range as {
				if a.GetName() == c.Param {
					p.Value, p.Null = a.GetValue(), false
				}
			}
		}
		if c.Output {
			out = append(out, p)
		} else {
			in = append(in, p)
		}
	}
	return in, out
}

// follow sends the outbox messages of topic after seq (of blocks from fromBlock on, keyed by
// key when set) to handle, in sequence order, until ctx ends.
func follow(ctx context.Context, b *Backend, topic string, seq int64, fromBlock uint64, key []byte, handle func(store.Queued) error) error {
	poll := b.SubscribePoll
	if poll <= 0 {
		poll = DefaultSubscribePoll
	}
	for {
		woken := b.Wakeup.C()
		qs, last, read, err := b.Store.OutboxAfter(ctx, topic, seq, fromBlock, key, subscribeBatch)
		if err != nil {
			return storeErr(ctx, err)
		}
		for _, q := range qs {
			if err := handle(q); err != nil {
				return err
			}
		}
		seq = last
		if read == subscribeBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-woken:
		case <-time.After(poll):
		}
	}
}

// SubscribeEvents streams decoded events: the stored history from the start point, then
// new ones as they are committed.
func (s *Server) SubscribeEvents(req *exportv1.SubscribeEventsRequest, stream exportv1.ExportService_SubscribeEventsServer) error {
	ctx := stream.Context()
	b := s.backend()
	if b == nil {
		return errNotOpen
	}
	sel, err := s.selectDecoded(ctx, b, req.GetContract(), req.GetContractAddress(), "event", req.GetEvent(), req.GetFilters(), contract.EventTable)
	if err != nil {
		return err
	}
	var seq int64
	if c, ok := req.GetStart().(*exportv1.SubscribeEventsRequest_Cursor); ok {
		if seq, err = decodeCursor(c.Cursor, "events"); err != nil {
			return err
		}
	}
	tables := sel.tableSet()
	return follow(ctx, b, b.EventsTopic, seq, req.GetFromBlock(), sel.address, func(q store.Queued) error {
		ev := &chainv1.DecodedEvent{}
		if err := proto.Unmarshal(q.Value, ev); err != nil {
			return status.Errorf(codes.Internal, "outbox message %d: %v", q.Seq, err)
		}
		t := tables[[2]string{ev.GetContractName(), ev.GetEventSignature()}]
		if t == nil || !sel.matchArgs(ev.GetArgs()) {
			return nil
		}
		params, _ := paramsOf(t, ev.GetArgs())
		out := &exportv1.Event{BlockNumber: ev.GetBlockNumber(), BlockTime: timestamppb.New(time.UnixMilli(int64(ev.GetBlockTimestampMs()))),
			TransactionHash: hexOf(ev.GetTransactionHash()), TransactionIndex: ev.GetTransactionIndex(), LogIndex: ev.GetLogIndex(),
			ContractAddress: hexOf(ev.GetContractAddress()), ContractName: ev.GetContractName(), EventName: ev.GetEventName(),
			EventSignature: ev.GetEventSignature(), Params: params, Table: t.Name}
		return stream.Send(&exportv1.SubscribeEventsResponse{Event: out, Cursor: encodeCursor(q.Seq, "events")})
	})
}

// SubscribeCalls streams decoded calls and constructors as SubscribeEvents streams events.
func (s *Server) SubscribeCalls(req *exportv1.SubscribeCallsRequest, stream exportv1.ExportService_SubscribeCallsServer) error {
	ctx := stream.Context()
	b := s.backend()
	if b == nil {
		return errNotOpen
	}
	from, err := optAddress("from", req.GetFrom())
	if err != nil {
		return err
	}
	sel, err := s.selectDecoded(ctx, b, req.GetContract(), req.GetContractAddress(), "method", req.GetMethod(), req.GetFilters(),
		contract.MethodTable, contract.ConstructorTable)
	if err != nil {
		return err
	}
	var seq int64
	if c, ok := req.GetStart().(*exportv1.SubscribeCallsRequest_Cursor); ok {
		if seq, err = decodeCursor(c.Cursor, "calls"); err != nil {
			return err
		}
	}
	tables := sel.tableSet()
	return follow(ctx, b, b.CallsTopic, seq, req.GetFromBlock(), sel.address, func(q store.Queued) error {
		c := &chainv1.DecodedCall{}
		if err := proto.Unmarshal(q.Value, c); err != nil {
			return status.Errorf(codes.Internal, "outbox message %d: %v", q.Seq, err)
		}
		t := tables[[2]string{c.GetContractName(), c.GetMethodSignature()}]
		if t == nil || (from != nil && !bytes.Equal(from, c.GetFrom())) || (req.Status != nil && *req.Status != c.GetStatus()) ||
			!sel.matchArgs(c.GetInputs(), c.GetOutputs()) {
			return nil
		}
		in, outs := paramsOf(t, c.GetInputs(), c.GetOutputs())
		out := &exportv1.Call{BlockNumber: c.GetBlockNumber(), BlockTime: timestamppb.New(time.UnixMilli(int64(c.GetBlockTimestampMs()))),
			TransactionHash: hexOf(c.GetTransactionHash()), TransactionIndex: c.GetTransactionIndex(), From: hexOf(c.GetFrom()),
			ContractAddress: hexOf(c.GetContractAddress()), ContractName: c.GetContractName(), MethodName: c.GetMethodName(),
			MethodSignature: c.GetMethodSignature(), Status: c.GetStatus(), Deploy: c.GetDeploy(),
			Inputs: in, Outputs: outs, Table: t.Name}
		return stream.Send(&exportv1.SubscribeCallsResponse{Call: out, Cursor: encodeCursor(q.Seq, "calls")})
	})
}
