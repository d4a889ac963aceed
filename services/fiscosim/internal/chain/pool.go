package chain

import (
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/ethereum/go-ethereum/common"
)

// PoolLimit is the node's default tx_pool.limit.
const PoolLimit = 150000

// ErrRejected is wrapped by every RejectError.
var ErrRejected = errors.New("transaction rejected")

// Reasons a transaction is refused, named as the node's ImportResult / TransactionException.
const (
	ReasonMalformed        = "MalformedTx"
	ReasonInvalidSignature = "InvalidSignature"
	ReasonInvalidChainID   = "InvalidChainId"
	ReasonInvalidGroupID   = "InvalidGroupId"
	ReasonBlockLimit       = "BlockLimitCheckFail"
	ReasonNonceInChain     = "TransactionNonceCheckFail"
	ReasonNonceInPool      = "TxPoolNonceCheckFail"
	ReasonAlreadyKnown     = "AlreadyKnown"
	ReasonAlreadyInChain   = "AlreadyInChain"
	ReasonPoolFull         = "TransactionPoolIsFull"
)

// RejectError is a transaction the pool refused. Its message has the node's shape,
// "<Reason>, txHash=<hash>".
type RejectError struct {
	Reason string
	Hash   common.Hash
	Err    error // detail, may be nil
}

// Error implements error.
func (e *RejectError) Error() string {
	s := e.Reason + ", txHash=" + e.Hash.Hex()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrRejected and the detail.
func (e *RejectError) Unwrap() []error { return []error{ErrRejected, e.Err} }

type pool struct {
	mu     sync.Mutex
	queue  []*Tx
	byHash map[common.Hash]bool
	nonces map[string]bool
}

func newPool() *pool {
	return &pool{byHash: make(map[common.Hash]bool), nonces: make(map[string]bool)}
}

// Submit admits a signed transaction RLP the way the node's sendRawTransaction does
// (TxPool::submitTransactions): decode, check chain and group ids, the signature, the
// blockLimit window and nonce reuse, then queue it for the next block. It returns the
// transaction hash.
func (c *Chain) Submit(raw []byte) (common.Hash, error) {
	tx, err := block.DecodeTransaction(raw)
	if err != nil {
		h := c.p.Suite.Hash(raw)
		return h, &RejectError{Reason: ReasonMalformed, Hash: h, Err: err}
	}
	t, err := c.Admit(tx)
	if err != nil {
		return t.Hash, err
	}
	return t.Hash, nil
}

// Admit checks a decoded transaction as Submit does and queues it. The returned Tx carries
// the hash even when admission fails.
func (c *Chain) Admit(tx *block.Transaction) (*Tx, error) {
	t := &Tx{Tx: tx, Hash: tx.Hash(c.p.Suite)}
	reject := func(reason string, err error) (*Tx, error) {
		return t, &RejectError{Reason: reason, Hash: t.Hash, Err: err}
	}
	if err := tx.Validate(); err != nil {
		return reject(ReasonMalformed, err)
	}
	if tx.ChainID == nil || tx.ChainID.Cmp(big.NewInt(c.p.ChainID)) != 0 {
		return reject(ReasonInvalidChainID, fmt.Errorf("chainId %v, node has %d", tx.ChainID, c.p.ChainID))
	}
	if tx.GroupID == nil || tx.GroupID.Cmp(big.NewInt(c.p.GroupID)) != 0 {
		return reject(ReasonInvalidGroupID, fmt.Errorf("groupId %v, node has %d", tx.GroupID, c.p.GroupID))
	}
	sender, err := tx.Sender(c.p.Suite)
	if err != nil {
		return reject(ReasonInvalidSignature, err)
	}
	t.Sender = sender

	head := c.HeadNumber()
	limit := tx.BlockLimit
	if limit == nil || !limit.IsUint64() || limit.Uint64() <= head || limit.Uint64() > head+MaxBlockLimitWindow {
		return reject(ReasonBlockLimit, fmt.Errorf("blockLimit %v outside (%d, %d]", limit, head, head+MaxBlockLimitWindow))
	}
	nk := nonceKey(tx.Nonce)
	c.mu.RLock()
	_, inChain := c.txs[t.Hash]
	_, nonceUsed := c.nonces[nk]
	c.mu.RUnlock()
	if inChain {
		return reject(ReasonAlreadyInChain, nil)
	}
	if nonceUsed {
		return reject(ReasonNonceInChain, fmt.Errorf("nonce %s already in a block", nk))
	}

	p := c.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.byHash[t.Hash]:
		return reject(ReasonAlreadyKnown, nil)
	case p.nonces[nk]:
		return reject(ReasonNonceInPool, fmt.Errorf("nonce %s already pending", nk))
	case len(p.queue) >= PoolLimit:
		return reject(ReasonPoolFull, nil)
	}
	p.queue = append(p.queue, t)
	p.byHash[t.Hash] = true
	p.nonces[nk] = true
	return t, nil
}

// Pending returns the number of queued transactions.
func (c *Chain) Pending() int {
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	return len(c.pool.queue)
}

// TakePending removes up to max queued transactions, oldest first, that are still valid for
// the next block; expired ones (blockLimit ≤ next number) are dropped.
func (c *Chain) TakePending(max int) []*Tx {
	next := c.HeadNumber() + 1
	p := c.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Tx
	i := 0
	for ; i < len(p.queue) && len(out) < max; i++ {
		t := p.queue[i]
		if t.Tx.BlockLimit.Uint64() <= next {
			p.forget(t)
			continue
		}
		out = append(out, t)
	}
	p.queue = append(p.queue[:0:0], p.queue[i:]...)
	return out
}

func (p *pool) forget(t *Tx) {
	delete(p.byHash, t.Hash)
	delete(p.nonces, nonceKey(t.Tx.Nonce))
}

// removeIncluded forgets sealed transactions (taken ones are already out of the queue).
func (p *pool) removeIncluded(txs []*Tx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range txs {
		p.forget(t)
	}
}
