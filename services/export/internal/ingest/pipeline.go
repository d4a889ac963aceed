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
	"slices"
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
	cfg     Config
	st      *store.Store
	offsets *pgoffset.Store
	// contracts is the registry batches decode with: the -contracts file's and those
	// registered over the API as of version (export.progress registry_version). A batch
	// transaction compares version under the write lock and reloads first when it moved.
	contracts atomic.Pointer[Contracts]
	version   atomic.Int64
	// load builds the registry from the contracts registered over the API (nil: the file's
	// contracts only, never reloaded).
	load func([]contract.Registered) (*Contracts, error)
	// onRegistry is told of every new registry (see OnRegistry).
	onRegistry atomic.Pointer[func(*Contracts)]
	dec        decoder
	metrics    *Metrics
	log        *zap.Logger
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
	p := &Pipeline{cfg: cfg, st: st, offsets: offsets, metrics: m, log: log, notify: notify,
		dec: decoder{chain: cfg.Chain, group: uint32(cfg.Group), eventsTopic: cfg.EventsTopic, callsTopic: cfg.CallsTopic,
			noEvents: cfg.NoEvents, noMethods: cfg.NoMethods}}
	p.contracts.Store(contracts)
	return p
}

// reg returns the registry batches decode with now.
func (p *Pipeline) reg() *Contracts { return p.contracts.Load() }

// Contracts returns the registry as of the last batch or registration.
func (p *Pipeline) Contracts() *Contracts { return p.reg() }

// UseRegistered makes the pipeline decode with the registry load builds from the contracts
// registered over the API, as of version: what Run read at start. Batches reload it when the
// stored version moves.
func (p *Pipeline) UseRegistered(load func([]contract.Registered) (*Contracts, error), regs []contract.Registered, version int64) error {
	c, err := load(regs)
	if err != nil {
		return err
	}
	p.load = load
	p.contracts.Store(c)
	p.version.Store(version)
	return nil
}

// OnRegistry has fn called with each registry the pipeline switches to (a registration here
// or seen from another instance).
func (p *Pipeline) OnRegistry(fn func(*Contracts)) { p.onRegistry.Store(&fn) }

// swap makes c, of version v, the registry.
func (p *Pipeline) swap(c *Contracts, v int64) {
	p.contracts.Store(c)
	p.version.Store(v)
	if fn := p.onRegistry.Load(); fn != nil {
		(*fn)(c)
	}
}

// RefreshStored reloads the registry when the stored version moved (a contract registered
// through another instance), without the write lock: for the API's view between batches.
// Batches check the version again under the lock.
func (p *Pipeline) RefreshStored(ctx context.Context) error {
	if p.load == nil {
		return nil
	}
	regs, v, err := p.st.Registered(ctx)
	if err != nil || v == p.version.Load() {
		return err
	}
	c, err := p.load(regs)
	if err != nil {
		return fmt.Errorf("load the contracts registered over the API (version %d): %w", v, err)
	}
	p.swap(c, v)
	return nil
}

// refresh brings the registry to the version tx reads (under the write lock), reloading the
// registered contracts when it moved. It reports whether it changed.
func (p *Pipeline) refresh(ctx context.Context, tx *store.Tx) (bool, error) {
	if p.load == nil {
		return false, nil
	}
	v, err := tx.RegistryVersion(ctx)
	if err != nil || v == p.version.Load() {
		return false, err
	}
	regs, v, err := tx.Registered(ctx)
	if err != nil {
		return false, err
	}
	c, err := p.load(regs)
	if err != nil {
		// Each registration was loaded with the others before it was recorded.
		return false, fmt.Errorf("load the contracts registered over the API (version %d): %w", v, err)
	}
	p.swap(c, v)
	p.log.Info("contracts registered over the API loaded", zap.Int64("version", v), zap.Int("registered", len(regs)), zap.Int("contracts", len(c.List())))
	return true, nil
}

// ErrRegistered reports a RegisterContract of a name already registered otherwise.
var ErrRegistered = errors.New("contract already registered")

// ErrBadRegistration reports a contract the registry refuses (its ABI, bytecode, addresses,
// or a name or table name taken).
var ErrBadRegistration = errors.New("contract refused")

// Register records a contract registered over the API, creates its typed tables and makes
// every instance's next batch decode with it (the registry version moves in the same
// transaction). Its stored history is not decoded yet: run BackfillRegistered. Registering the
// same contract again (same ABI, bytecode, learn flag and addresses) returns it without
// change.
func (p *Pipeline) Register(ctx context.Context, r contract.Registered) (*contract.Contract, bool, error) {
	if p.load == nil {
		return nil, false, errors.New("registration is not enabled")
	}
	tx, err := p.st.Begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback(ctx)
	if _, err := p.refresh(ctx, tx); err != nil {
		return nil, false, err
	}
	regs, _, err := tx.Registered(ctx)
	if err != nil {
		return nil, false, err
	}
	for _, old := range regs {
		if old.Name == r.Name {
			if sameRegistration(old, r) {
				k, _ := p.reg().Named(r.Name)
				return k, false, nil
			}
			return nil, false, fmt.Errorf("%w: %s, with another ABI, bytecode or addresses", ErrRegistered, r.Name)
		}
	}
	c, err := p.load(append(slices.Clone(regs), r))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrBadRegistration, err)
	}
	k, _ := c.Named(r.Name)
	v, err := tx.AddRegistered(ctx, r)
	if err != nil {
		return nil, false, err
	}
	if err := p.register(ctx, tx, k, nil); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, err
	}
	p.swap(c, v)
	p.log.Info("contract registered over the API", zap.String("contract", k.Name), zap.Int64("version", v), zap.Int("tables", len(k.Tables)))
	return k, true, nil
}

func sameRegistration(a, b contract.Registered) bool {
	return a.Name == b.Name && bytes.Equal(a.ABI, b.ABI) && bytes.Equal(a.Bin, b.Bin) && a.Learn == b.Learn && slices.Equal(a.Addresses, b.Addresses)
}

// BackfillRegistered decodes the stored history of a contract Register recorded, beside the
// consumer, then records its fingerprint (so a restart does not decode it again). Blocks stored
// after the registration are decoded by their own batches; the range is read again after the
// first pass, because a deployment the first pass learns was unknown to the batches stored
// meanwhile.
func (p *Pipeline) BackfillRegistered(ctx context.Context, k *contract.Contract, progress func(BackfillProgress)) error {
	lo, hi, ok, err := p.st.Height(ctx)
	if err != nil || !ok {
		return err
	}
	if err := p.BackfillRange(ctx, k, lo, hi, "contract", progress); err != nil {
		return err
	}
	if _, hi2, _, err := p.st.Height(ctx); err != nil {
		return err
	} else if hi2 > hi {
		if err := p.BackfillRange(ctx, k, hi+1, hi2, "contract", progress); err != nil {
			return err
		}
	}
	tx, err := p.st.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := p.register(ctx, tx, k, Fingerprint(k)); err != nil {
		return err
	}
	return tx.Commit(ctx)
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
	if changed, err := p.refresh(ctx, tx); err != nil {
		return nil, nil, history{}, err
	} else if changed {
		g = nil // decoded with the registry before
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
