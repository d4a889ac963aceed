// Package ingest stores the on-chain side of reconciliation: the decoded events and calls
// export publishes on bcos.<chain>.<group>.events.v1 and calls.v1. Each batch of one partition
// is one PostgreSQL transaction holding the records and the consumed offsets (pgoffset), so a
// batch is applied exactly once; records are also idempotent on their natural key.
package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// Config configures a Handler.
type Config struct {
	Chain string
	Group uint
	// GroupID is the consumer group whose offsets are recorded with the data.
	GroupID string
	// EventsTopic and CallsTopic are export's decoded topics.
	EventsTopic, CallsTopic string
	// Seal, when set, encrypts the parameters jobs mark sensitive before the records are
	// stored; an error is transient (the batch is retried).
	Seal func(ctx context.Context, recs []store.Record) error
	// Events, when set, sees every decoded event of a batch inside its transaction (evidence
	// confirms its anchors there); after runs once the transaction committed.
	Events func(ctx context.Context, tx pgx.Tx, events []*chainv1.DecodedEvent) (after func(), err error)
}

// Handler is the kafka.Handler of the decoded topics.
type Handler struct {
	cfg     Config
	st      *store.Store
	offsets *pgoffset.Store
	// OnApplied is called after each committed batch with its highest block and block time.
	onApplied func(block, timeMs uint64, records int)

	mu       sync.Mutex
	lastSeen time.Time
}

// New returns the handler.
func New(cfg Config, st *store.Store, offsets *pgoffset.Store, onApplied func(block, timeMs uint64, records int)) *Handler {
	if onApplied == nil {
		onApplied = func(uint64, uint64, int) {}
	}
	return &Handler{cfg: cfg, st: st, offsets: offsets, onApplied: onApplied}
}

// LastApplied returns when the last batch was committed (zero before the first).
func (h *Handler) LastApplied() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastSeen
}

// Handle stores one partition's batch in one transaction with its offsets. A message that is
// not a decoded event or call of this chain and group is permanent: the partition halts at it.
func (h *Handler) Handle(ctx context.Context, msgs []kafkago.Message) error {
	recs := make([]store.Record, 0, len(msgs))
	var events []*chainv1.DecodedEvent
	var block, ts uint64
	for _, m := range msgs {
		r, ev, err := h.record(m)
		if err != nil {
			return kafka.Permanent(fmt.Errorf("%s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err))
		}
		block, ts = max(block, r.BlockNumber), max(ts, r.BlockTimestampMs)
		recs = append(recs, r)
		if ev != nil {
			events = append(events, ev)
		}
	}
	if h.cfg.Seal != nil {
		if err := h.cfg.Seal(ctx, recs); err != nil {
			return err
		}
	}
	tx, err := h.st.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := store.WriteRecords(ctx, tx, recs); err != nil {
		return err
	}
	after := func() {}
	if h.cfg.Events != nil && len(events) > 0 {
		if after, err = h.cfg.Events(ctx, tx, events); err != nil {
			return err
		}
	}
	if err := h.offsets.Record(ctx, tx, h.cfg.GroupID, msgs); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	after()
	h.mu.Lock()
	h.lastSeen = time.Now()
	h.mu.Unlock()
	h.onApplied(block, ts, len(recs))
	return nil
}

func (h *Handler) record(m kafkago.Message) (store.Record, *chainv1.DecodedEvent, error) {
	switch m.Topic {
	case h.cfg.EventsTopic:
		e, err := kafka.Decode[chainv1.DecodedEvent](m)
		if err != nil {
			return store.Record{}, nil, err
		}
		if err := h.check(e.GetChain(), e.GetGroup()); err != nil {
			return store.Record{}, nil, err
		}
		return store.Record{TxHash: hexText(e.GetTransactionHash()), LogIndex: int32(e.GetLogIndex()), Kind: "event",
			ContractName: e.GetContractName(), ContractAddress: hexText(e.GetContractAddress()), Name: e.GetEventName(),
			Signature: e.GetEventSignature(), BlockNumber: e.GetBlockNumber(), BlockTimestampMs: e.GetBlockTimestampMs(),
			Params: Params(e.GetArgs())}, e, nil
	case h.cfg.CallsTopic:
		c, err := kafka.Decode[chainv1.DecodedCall](m)
		if err != nil {
			return store.Record{}, nil, err
		}
		if err := h.check(c.GetChain(), c.GetGroup()); err != nil {
			return store.Record{}, nil, err
		}
		from := hexText(c.GetFrom())
		status := int32(c.GetStatus())
		name := c.GetMethodName()
		if c.GetDeploy() && name == "" {
			name = "constructor"
		}
		return store.Record{TxHash: hexText(c.GetTransactionHash()), LogIndex: 0, Kind: "call",
			ContractName: c.GetContractName(), ContractAddress: hexText(c.GetContractAddress()), Name: name,
			Signature: c.GetMethodSignature(), BlockNumber: c.GetBlockNumber(), BlockTimestampMs: c.GetBlockTimestampMs(),
			From: &from, Status: &status, Params: Params(c.GetInputs())}, nil, nil
	}
	return store.Record{}, nil, fmt.Errorf("message of topic %s, want %s or %s", m.Topic, h.cfg.EventsTopic, h.cfg.CallsTopic)
}

func (h *Handler) check(chain string, group uint32) error {
	if chain != h.cfg.Chain || uint(group) != h.cfg.Group {
		return fmt.Errorf("record of chain %s group %d on the topic of chain %s group %d", chain, group, h.cfg.Chain, h.cfg.Group)
	}
	return nil
}

// Params turns decoded arguments into canonical texts by name: numbers as the decimal text
// export writes, addresses and bytes lowercase 0x hex. An argument without a name is arg<i>.
func Params(args []*chainv1.DecodedArg) map[string]string {
	out := make(map[string]string, len(args))
	for i, a := range args {
		name := a.GetName()
		if name == "" {
			name = "arg" + strconv.Itoa(i)
		}
		v := a.GetValue()
		t := a.GetType()
		if t == "address" || strings.HasPrefix(t, "bytes") {
			v = strings.ToLower(v)
		}
		out[name] = v
	}
	return out
}

func hexText(b []byte) string { return "0x" + hex.EncodeToString(b) }
