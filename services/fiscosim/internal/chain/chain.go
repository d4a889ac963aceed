// Package chain is the simulated FISCO BCOS 2.x ledger of one group: it admits signed
// transactions the way the node's transaction pool does, executes them on the EVM, seals
// blocks signed by 2f+1 of the configured sealers, produces for every block the storage
// change-set the node writes to its binlog, and answers the queries the JSON-RPC needs.
//
// Everything a block contains is a function of the parameters, the transactions and the
// timestamp the caller supplies, so a seeded caller with a simulated clock gets byte-identical
// chains run after run.
package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/evm"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/tables"
	"github.com/ethereum/go-ethereum/common"
)

// Limits of the node reproduced by the simulator.
const (
	// MaxBlockLimitWindow is m_maxBlockLimit (libtxpool/TransactionNonceCheck.cpp): a
	// transaction is valid while head < blockLimit ≤ head+1000.
	MaxBlockLimitWindow = 1000
	// DefaultTxGasLimit is the genesis tx.gas_limit of build_chain.sh.
	DefaultTxGasLimit = 300000000
	// DefaultTxCountLimit is the genesis consensus.max_trans_num of build_chain.sh.
	DefaultTxCountLimit = 1000
	// DefaultConsensusTimeout is the genesis consensus_timeout (seconds) of build_chain.sh.
	DefaultConsensusTimeout = 3
)

var (
	// ErrNotFound reports a block or transaction the chain does not have (or no longer
	// keeps, when blocks are not retained).
	ErrNotFound = errors.New("not found")
	// ErrEmptyBlock reports an attempt to seal a block without transactions: PBFT never
	// commits one, so binlog block numbers stay contiguous.
	ErrEmptyBlock = errors.New("block has no transactions")
	// ErrBadParams reports unusable chain parameters.
	ErrBadParams = errors.New("bad chain parameters")
)

// Params are the fixed properties of the simulated group.
type Params struct {
	// Suite is the crypto family: ECDSA/keccak256 or SM2/SM3.
	Suite *cryptosuite.Suite
	// ChainID and GroupID are checked against every transaction.
	ChainID, GroupID int64
	// Version is the chain's supported_version; it picks roots, receipt and storage formats.
	Version Version
	// Sealers are the sealer keys in configuration order (the order of the genesis mark).
	Sealers []*cryptosuite.PrivateKey
	// GenesisTime is the genesis timestamp in milliseconds.
	GenesisTime uint64
	// TxCountLimit and TxGasLimit are the genesis limits (0 means the build_chain defaults).
	TxCountLimit, TxGasLimit uint64
	// Seed chooses which sealers sign each block.
	Seed int64
	// BinlogFormat is the entry encoding of binlog records (flagged for binaries ≥ 2.5.0).
	BinlogFormat binlog.Format
	// Retain keeps every block, the transaction index and the nonce window in memory for
	// queries and admission checks. Bulk generation turns it off and keeps only the head.
	Retain bool
	// ForgeSignatureAt lists blocks whose first consensus signature is replaced by a
	// well-formed signature of the same sealer over another hash (fault injection).
	ForgeSignatureAt map[uint64]bool
}

// Sink receives the binlog record of every committed block before the block becomes visible.
type Sink interface {
	WriteRecord(rec *binlog.Record) error
}

// Sealed is a committed block with what queries need beside it.
type Sealed struct {
	Block *block.Block
	// Raw is the block RLP as stored in _sys_hash_2_block_.
	Raw []byte
	// Hash is the block hash.
	Hash common.Hash
	// TxHashes and Senders are per transaction.
	TxHashes []common.Hash
	Senders  []common.Address
}

// Number returns the block number.
func (s *Sealed) Number() uint64 { return s.Block.Header.Number }

// TxLocation is where a transaction sits.
type TxLocation struct {
	Block uint64
	Index int
}

// Chain is the ledger. It is safe for concurrent use; blocks are sealed one at a time.
type Chain struct {
	p       Params
	ex      *evm.Executor
	rule    block.RootRule
	sink    Sink
	sealers []cryptosuite.PublicKey   // sorted, as in header sealerList
	keys    []*cryptosuite.PrivateKey // keys[i] signs for sealers[i]

	sealMu sync.Mutex // one block at a time

	mu       sync.RWMutex
	state    *evm.State
	store    *tables.Store
	blocks   []*Sealed // by number when Retain
	head     *Sealed
	byHash   map[common.Hash]uint64
	txs      map[common.Hash]TxLocation
	nonces   map[string]uint64 // nonce (decimal) → block it was included in, within the window
	byBlock  map[uint64][]string
	totalTx  uint64
	failedTx uint64
	newHead  chan struct{} // closed and replaced when a block is committed

	pool *pool
}

// New builds the chain, commits the genesis block and writes its record to sink.
func New(p Params, sink Sink) (*Chain, error) {
	c, err := newChain(p, sink)
	if err != nil {
		return nil, err
	}
	blk, raw, rec, err := c.genesis()
	if err != nil {
		return nil, err
	}
	if err := c.sink.WriteRecord(rec); err != nil {
		return nil, fmt.Errorf("write genesis binlog record: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publish(&Sealed{Block: blk, Raw: raw, Hash: blk.BlockHash})
	return c, nil
}

func newChain(p Params, sink Sink) (*Chain, error) {
	if p.Suite == nil || len(p.Sealers) == 0 {
		return nil, fmt.Errorf("build chain: %w: a suite and at least one sealer are required", ErrBadParams)
	}
	if p.TxCountLimit == 0 {
		p.TxCountLimit = DefaultTxCountLimit
	}
	if p.TxGasLimit == 0 {
		p.TxGasLimit = DefaultTxGasLimit
	}
	c := &Chain{
		p:       p,
		ex:      evm.NewExecutor(p.Suite.Hash, p.Suite.Name() == cryptosuite.NameSM),
		rule:    block.MerkleRoots,
		sink:    sink,
		state:   evm.NewState(p.Suite.Hash),
		byHash:  make(map[common.Hash]uint64),
		txs:     make(map[common.Hash]TxLocation),
		nonces:  make(map[string]uint64),
		byBlock: make(map[uint64][]string),
		newHead: make(chan struct{}),
		pool:    newPool(),
	}
	if !p.Version.AtLeast(V2_2_0) {
		c.rule = block.RC2Roots
	}
	firstID := uint64(2) // ids are not lifted before 2.2.0; id 1 is current_id
	if p.Version.AtLeast(V2_2_0) {
		firstID = 100002 // the real genesis record starts there
	}
	c.store = tables.New(firstID)
	type pair struct {
		pub cryptosuite.PublicKey
		key *cryptosuite.PrivateKey
	}
	pairs := make([]pair, len(p.Sealers))
	for i, k := range p.Sealers {
		if k.Suite() != p.Suite.Name() {
			return nil, fmt.Errorf("build chain: sealer %d is a %s key on a %s chain: %w", i, k.Suite(), p.Suite.Name(), ErrBadParams)
		}
		pairs[i] = pair{k.PublicKey(), k}
	}
	sort.Slice(pairs, func(i, j int) bool { return string(pairs[i].pub[:]) < string(pairs[j].pub[:]) })
	for _, pr := range pairs {
		c.sealers = append(c.sealers, pr.pub)
		c.keys = append(c.keys, pr.key)
	}
	return c, nil
}

// Params returns the chain parameters.
func (c *Chain) Params() Params { return c.p }

// Suite returns the crypto suite.
func (c *Chain) Suite() *cryptosuite.Suite { return c.p.Suite }

// RootRule returns the tx/receipt root rule of the chain's version.
func (c *Chain) RootRule() block.RootRule { return c.rule }

// SealerList returns the sealer node ids in header order.
func (c *Chain) SealerList() []cryptosuite.PublicKey {
	return append([]cryptosuite.PublicKey(nil), c.sealers...)
}

// Executor returns the EVM executor (for read-only calls and address derivation).
func (c *Chain) Executor() *evm.Executor { return c.ex }

// Head returns the newest block.
func (c *Chain) Head() *Sealed {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.head
}

// HeadNumber returns the newest block number.
func (c *Chain) HeadNumber() uint64 { return c.Head().Number() }

// BlockByNumber returns block n.
func (c *Chain) BlockByNumber(n uint64) (*Sealed, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.head != nil && n == c.head.Number() {
		return c.head, nil
	}
	if n >= uint64(len(c.blocks)) {
		return nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
	}
	return c.blocks[n], nil
}

// BlockByHash returns the block with hash h.
func (c *Chain) BlockByHash(h common.Hash) (*Sealed, error) {
	c.mu.RLock()
	n, ok := c.byHash[h]
	c.mu.RUnlock()
	if !ok {
		if hd := c.Head(); hd != nil && hd.Hash == h {
			return hd, nil
		}
		return nil, fmt.Errorf("block %s: %w", h.Hex(), ErrNotFound)
	}
	return c.BlockByNumber(n)
}

// Transaction returns the block holding transaction h and its index there.
func (c *Chain) Transaction(h common.Hash) (*Sealed, int, error) {
	c.mu.RLock()
	loc, ok := c.txs[h]
	c.mu.RUnlock()
	if !ok {
		return nil, 0, fmt.Errorf("transaction %s: %w", h.Hex(), ErrNotFound)
	}
	b, err := c.BlockByNumber(loc.Block)
	if err != nil {
		return nil, 0, err
	}
	return b, loc.Index, nil
}

// Counts returns the total and failed transaction counts.
func (c *Chain) Counts() (total, failed uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.totalTx, c.failedTx
}

// Code returns the code deployed at addr.
func (c *Chain) Code(addr common.Address) []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.Code(addr)
}

// AccountNonce returns the FISCO account nonce of addr (how many contracts it deployed).
func (c *Chain) AccountNonce(addr common.Address) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if a := c.state.Account(addr); a != nil {
		return a.Nonce
	}
	return 0
}

// Call runs a read-only call on the head state.
func (c *Chain) Call(from common.Address, to *common.Address, data []byte) (evm.Result, uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	head := c.head.Block.Header
	ctx := evm.BlockContext{Number: int64(head.Number), Timestamp: int64(head.Timestamp), GasLimit: c.p.TxGasLimit, GetHash: c.hashOfLocked}
	res, err := c.ex.Call(c.state, ctx, evm.Message{From: from, To: to, Data: data, Gas: c.p.TxGasLimit})
	return res, head.Number, err
}

// hashOfLocked returns the hash of block n for BLOCKHASH; the caller holds mu.
func (c *Chain) hashOfLocked(n uint64) common.Hash {
	if n < uint64(len(c.blocks)) {
		return c.blocks[n].Hash
	}
	return common.Hash{}
}

// WaitBlock blocks until block n is committed or ctx ends.
func (c *Chain) WaitBlock(ctx context.Context, n uint64) (*Sealed, error) {
	for {
		c.mu.RLock()
		head, ch := c.head, c.newHead
		c.mu.RUnlock()
		if head.Number() >= n {
			return c.BlockByNumber(n)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for block %d (head %d): %w", n, head.Number(), ctx.Err())
		case <-ch:
		}
	}
}

// HeadChanged returns a channel closed when the next block is committed.
func (c *Chain) HeadChanged() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.newHead
}

// publish makes a sealed block visible; the caller holds mu.
func (c *Chain) publish(s *Sealed) {
	n := s.Number()
	if c.p.Retain {
		c.blocks = append(c.blocks, s)
		c.byHash[s.Hash] = n
		for i, h := range s.TxHashes {
			c.txs[h] = TxLocation{Block: n, Index: i}
		}
		var keys []string
		for _, tx := range s.Block.Transactions {
			k := nonceKey(tx.Nonce)
			c.nonces[k] = n
			keys = append(keys, k)
		}
		c.byBlock[n] = keys
		// Nonces older than the blockLimit window can no longer be replayed.
		if n > MaxBlockLimitWindow {
			old := n - MaxBlockLimitWindow
			for _, k := range c.byBlock[old] {
				if c.nonces[k] == old {
					delete(c.nonces, k)
				}
			}
			delete(c.byBlock, old)
		}
	}
	c.head = s
	close(c.newHead)
	c.newHead = make(chan struct{})
}

func nonceKey(n *big.Int) string {
	if n == nil {
		return "0"
	}
	return n.String()
}
