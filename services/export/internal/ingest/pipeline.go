// Package ingest applies the blocks topic to export's tables: each batch of block messages of
// one partition becomes one PostgreSQL transaction holding the blocks, transactions and logs,
// the typed rows decoded from registered contracts, the deployments learned, the decode
// failures, the outbox messages of the events and calls topics, the progress row and the
// consumed offsets. It also decodes stored history again (backfill) when a contract is
// registered or changed, and when a deployment is learned after calls to it were stored.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/bcosdata/bcosdata/libs/kafka"
	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Config configures a Pipeline.
type Config struct {
	Chain string
	Group uint
	// GroupID is the consumer group whose offsets are recorded with the data.
	GroupID string
	// EventsTopic and CallsTopic receive the decoded messages.
	EventsTopic, CallsTopic string
	// Start is where the deployment begins (as recorded by store.Init).
	Start store.Start
	// Crypto is the suite the registry's selectors and topics were computed with (-crypto);
	// a block of another suite is permanent.
	Crypto chainv1.CryptoSuite
	// NoEvents and NoMethods leave logs, or calls and constructors, undecoded (Data-Export
	// dataTypeBlackList event, method): no typed rows, no failures, no messages.
	NoEvents, NoMethods bool
}

// ErrCryptoMismatch reports a block of another crypto suite than export's -crypto.
var ErrCryptoMismatch = errors.New("block of another crypto suite")

// CryptoFlag names a suite as the -crypto flag does.
func CryptoFlag(s chainv1.CryptoSuite) string {
	switch s {
	case chainv1.CryptoSuite_CRYPTO_SUITE_ECDSA:
		return "ecdsa"
	case chainv1.CryptoSuite_CRYPTO_SUITE_SM:
		return "sm"
	}
	return "unspecified"
}

// Pipeline is the blocks topic's kafka.Handler.
type Pipeline struct {
	cfg       Config
	st        *store.Store
	offsets   *pgoffset.Store
	contracts *Contracts
	dec       decoder
	metrics   *Metrics
	log       *zap.Logger
	// height is the highest block stored plus one (0: none).
	height atomic.Uint64
	// Notify is called after each commit that queued messages (wakes the publisher).
	notify func()
}

// New returns the pipeline.
func New(cfg Config, st *store.Store, offsets *pgoffset.Store, contracts *Contracts, m *Metrics, log *zap.Logger, notify func()) *Pipeline {
	if notify == nil {
		notify = func() {}
	}
	return &Pipeline{cfg: cfg, st: st, offsets: offsets, contracts: contracts, metrics: m, log: log, notify: notify,
		dec: decoder{chain: cfg.Chain, group: uint32(cfg.Group), eventsTopic: cfg.EventsTopic, callsTopic: cfg.CallsTopic,
			noEvents: cfg.NoEvents, noMethods: cfg.NoMethods}}
}

// Handle applies one partition's batch of block messages in one transaction. A message that
// is not a Block of this chain and group is permanent: the partition halts at it.
func (p *Pipeline) Handle(ctx context.Context, msgs []kafkago.Message) error {
	b := &batch{}
	for _, m := range msgs {
		blk, err := kafka.Decode[chainv1.Block](m)
		if err != nil {
			return err
		}
		if err := p.add(b, blk); err != nil {
			return kafka.Permanent(fmt.Errorf("%s partition %d offset %d: %w", m.Topic, m.Partition, m.Offset, err))
		}
	}
	tx, out, backfilled, err := p.apply(ctx, msgs, b, true, p.guess(ctx, b))
	if errors.Is(err, store.ErrDuplicate) || store.IsUniqueViolation(err) {
		// Rows of a block thought new met stored ones, or the batch holds a block twice:
		// through staging, which leaves stored rows as they are.
		tx, out, backfilled, err = p.apply(ctx, msgs, b, false, nil)
	}
	if err != nil {
		return err
	}
	p.observe(tx, out)
	p.metrics.Blocks.Add(float64(len(msgs)))
	p.metrics.Skipped.Add(float64(b.skipped))
	for _, blk := range b.blocks {
		p.SeeHeight(blk.Number)
	}
	if backfilled.items > 0 {
		p.metrics.Backfills.WithLabelValues("deployment").Inc()
		p.metrics.BackfillBlocks.WithLabelValues("deployment").Add(float64(backfilled.blocks))
		p.log.Info("deployment learned after its history was stored; decoded it", zap.Int("items", backfilled.items), zap.Int("blocks", backfilled.blocks))
	}
	if len(out.msgs) > 0 {
		p.notify()
	}
	return nil
}

// apply writes a batch in one transaction and commits it; copyFresh is store.Tx.CopyFresh. It
// uses the guess's decoding if there is one and it still holds, and decodes in the
// transaction otherwise.
func (p *Pipeline) apply(ctx context.Context, msgs []kafkago.Message, b *batch, copyFresh bool, g *guess) (*store.Tx, *decoded, history, error) {
	tx, err := p.st.Begin(ctx)
	if err != nil {
		return nil, nil, history{}, err
	}
	defer tx.Rollback(ctx)
	if copyFresh {
		tx.CopyFresh()
	}
	l, err := p.lookUp(ctx, tx, b)
	if err != nil {
		return nil, nil, history{}, err
	}
	// Decoding only computes: it runs while PostgreSQL takes the base rows.
	type result struct {
		out        *decoded
		backfilled history
	}
	decodedc := make(chan result, 1)
	go func() {
		out, h, ok := p.guessed(g, l)
		if !ok {
			if g != nil {
				p.metrics.Redecoded.Inc()
			}
			out, h = p.decodeLooked(b, l)
		}
		decodedc <- result{out, h}
	}()
	blocks, txs, logs := b.base()
	err = tx.WriteBase(ctx, blocks, txs, logs, b.skipped)
	r := <-decodedc
	if err != nil {
		return nil, nil, history{}, err
	}
	out, backfilled := r.out, r.backfilled
	if err := p.write(ctx, tx, out); err != nil {
		return nil, nil, history{}, err
	}
	if err := p.offsets.Record(ctx, tx.Tx, p.cfg.GroupID, msgs); err != nil {
		return nil, nil, history{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, history{}, err
	}
	return tx, out, backfilled, nil
}

// SeeHeight moves the exported height up to n (it never moves down).
func (p *Pipeline) SeeHeight(n uint64) {
	for {
		cur := p.height.Load()
		if cur >= n+1 {
			return
		}
		if p.height.CompareAndSwap(cur, n+1) {
			p.metrics.Height.Set(float64(n))
			return
		}
	}
}

// Height returns the highest block stored, and false before the first.
func (p *Pipeline) Height() (uint64, bool) {
	h := p.height.Load()
	return h - 1, h > 0
}

// observe counts what a committed transaction wrote.
func (p *Pipeline) observe(tx *store.Tx, out *decoded) {
	for table, n := range tx.Written() {
		if n > 0 {
			p.metrics.Rows.WithLabelValues(table).Add(float64(n))
		}
	}
	for _, f := range out.failures {
		p.metrics.DecodeFailures.WithLabelValues(f.Contract).Inc()
	}
}

// add turns a block message into base rows, or counts it skipped when it is before the start.
func (p *Pipeline) add(b *batch, blk *chainv1.Block) error {
	h := blk.GetHeader()
	if h == nil {
		return fmt.Errorf("block message without a header")
	}
	if blk.GetChain() != p.cfg.Chain || uint(blk.GetGroup()) != p.cfg.Group {
		return fmt.Errorf("block %d of chain %s group %d on the topic of chain %s group %d", h.GetNumber(), blk.GetChain(), blk.GetGroup(), p.cfg.Chain, p.cfg.Group)
	}
	if len(blk.GetReceipts()) != len(blk.GetTransactions()) {
		return fmt.Errorf("block %d: %d receipts for %d transactions", h.GetNumber(), len(blk.GetReceipts()), len(blk.GetTransactions()))
	}
	if blk.GetCrypto() != p.cfg.Crypto {
		// Selectors and topics were computed with -crypto's hash: decoding this block with
		// them would miss every call and event without a sign.
		return fmt.Errorf("block %d: %w: the block says %s, export runs with -crypto %s; restart export with -crypto %s",
			h.GetNumber(), ErrCryptoMismatch, CryptoFlag(blk.GetCrypto()), CryptoFlag(p.cfg.Crypto), CryptoFlag(blk.GetCrypto()))
	}
	t := msTime(h.GetTimestampMs())
	if p.cfg.Start.Skips(h.GetNumber(), t) {
		b.skipped++
		return nil
	}
	var sealer []byte
	if s := h.GetSealer(); s < uint64(len(h.GetSealerList())) {
		sealer = h.GetSealerList()[s]
	}
	ref := store.BlockRef{Number: h.GetNumber(), Hash: h.GetHash(), Time: t, TimestampMS: h.GetTimestampMs()}
	b.blocks = append(b.blocks, store.Block{Number: h.GetNumber(), Hash: h.GetHash(), Parent: h.GetParentHash(), Time: t,
		TimestampMS: h.GetTimestampMs(), Sealer: sealer, SealerIndex: h.GetSealer(), TxCount: len(blk.GetTransactions()), GasUsed: bigOf(h.GetGasUsed())})
	for i, x := range blk.GetTransactions() {
		r := blk.GetReceipts()[i]
		if !bytes.Equal(r.GetTransactionHash(), x.GetHash()) {
			return fmt.Errorf("block %d: receipt %d is of transaction %x, not %x", h.GetNumber(), i, r.GetTransactionHash(), x.GetHash())
		}
		var reason *string
		if r.GetStatus() != 0 {
			if s, ok := contract.RevertReason(r.GetOutput()); ok {
				reason = &s
			}
		}
		var to, created []byte
		if !isCreation(x.GetTo()) {
			to = x.GetTo()
		}
		if len(r.GetContractAddress()) > 0 && !isCreation(r.GetContractAddress()) {
			created = r.GetContractAddress()
		}
		b.txs = append(b.txs, store.StoredTx{Block: ref, Transaction: store.Transaction{BlockNumber: h.GetNumber(), Index: x.GetIndex(),
			Hash: x.GetHash(), From: orEmpty(x.GetFrom()), To: to, Input: orEmpty(x.GetInput()), Value: bigOf(x.GetValue()),
			Nonce: bigOf(x.GetNonce()), BlockLimit: bigOf(x.GetBlockLimit()), Gas: bigOf(x.GetGas()), GasPrice: bigOf(x.GetGasPrice()),
			Status: r.GetStatus(), RevertReason: reason, Output: orEmpty(r.GetOutput()), GasUsed: bigOf(r.GetGasUsed()), ContractAddress: created}})
		for _, l := range r.GetLogs() {
			topics := l.GetTopics()
			if topics == nil {
				topics = [][]byte{}
			}
			b.logs = append(b.logs, store.StoredLog{Block: ref, Log: store.Log{BlockNumber: h.GetNumber(), TxHash: x.GetHash(), TxIndex: x.GetIndex(),
				LogIndex: l.GetIndex(), Address: orEmpty(l.GetAddress()), Topics: topics, Data: orEmpty(l.GetData())}})
		}
	}
	return nil
}

// base returns the batch's base rows.
func (b *batch) base() ([]store.Block, []store.Transaction, []store.Log) {
	txs := make([]store.Transaction, 0, len(b.txs))
	for _, x := range b.txs {
		txs = append(txs, x.Transaction)
	}
	logs := make([]store.Log, 0, len(b.logs))
	for _, l := range b.logs {
		logs = append(logs, l.Log)
	}
	return b.blocks, txs, logs
}
