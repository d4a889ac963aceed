package chain

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
)

// ErrAlreadyAnchoredByUs reports that the batch id is already stored in the contract by this
// anchorer's account with the same root: an earlier attempt (or a concurrent one) succeeded.
// Callers treat it as success and locate the earlier anchor with FindAnchor.
var ErrAlreadyAnchoredByUs = errors.New("batch already anchored by this account with the same root")

// ErrAnchoredByOther reports that the batch id is stored with another root or by another
// account: the contract will never accept ours.
var ErrAnchoredByOther = errors.New("batch id already anchored with another root or by another account")

// Transaction parameters, as go-sdk and the node's defaults use them.
const (
	gasLimit        = 30000000
	gasPrice        = 30000000
	blockLimitAhead = 500 // the node accepts blockLimit in (head, head+1000]
)

// Anchorer stores batch roots in an Evidence contract with transactions signed by one account.
// It is safe for concurrent use.
type Anchorer struct {
	node     *Node
	key      *cryptosuite.PrivateKey
	from     common.Address
	contract common.Address
	chainID  int64
	poll     time.Duration
}

// NewAnchorer returns an anchorer sending from key's account to the Evidence contract at
// contract. It reads the chain id from the node.
func NewAnchorer(ctx context.Context, node *Node, key *cryptosuite.PrivateKey, contract common.Address) (*Anchorer, error) {
	if key.Suite() != node.suite.Name() {
		return nil, fmt.Errorf("anchorer: %s key for a %s chain: %w", key.Suite(), node.suite.Name(), cryptosuite.ErrSuiteMismatch)
	}
	id, err := node.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("anchorer: %w", err)
	}
	return &Anchorer{
		node: node, key: key, from: node.suite.Address(key.PublicKey()), contract: contract,
		chainID: id, poll: 50 * time.Millisecond,
	}, nil
}

// Address returns the account the anchorer sends from (the contract's submitter).
func (a *Anchorer) Address() common.Address { return a.from }

// Contract returns the Evidence contract address.
func (a *Anchorer) Contract() common.Address { return a.contract }

// Anchor stores (batchID, root) with metadata {"count":count,"segment":segment} and waits for
// the transaction's receipt. It returns the transaction hash once the store succeeded.
//
// It never stores a batch twice: when the contract already holds batchID — before sending, or
// because the transaction was refused — it reads what is stored and returns
// ErrAlreadyAnchoredByUs with a zero hash (our account, same root; FindAnchor locates the
// earlier store) or an error wrapping ErrAnchoredByOther.
// A transaction that leaves the blockLimit window unmined is reported as an error; calling
// Anchor again is safe.
func (a *Anchorer) Anchor(ctx context.Context, batchID, root [32]byte, count int, segment string) (common.Hash, error) {
	if done, err := a.checkStored(ctx, batchID, root); done || err != nil {
		return common.Hash{}, err
	}
	data, err := packStore(a.node.suite, batchID, root, Metadata{Count: uint64(count), Segment: segment})
	if err != nil {
		return common.Hash{}, err
	}
	head, err := a.node.BlockNumber(ctx)
	if err != nil {
		return common.Hash{}, fmt.Errorf("anchor batch %x: %w", batchID, err)
	}
	tx, err := a.sign(head, data)
	if err != nil {
		return common.Hash{}, fmt.Errorf("anchor batch %x: %w", batchID, err)
	}
	hash := tx.Hash(a.node.suite)
	if _, err := a.node.sendRaw(ctx, tx.Encode()); err != nil {
		return hash, fmt.Errorf("anchor batch %x: %w", batchID, err)
	}
	rc, err := a.waitReceipt(ctx, hash, tx.BlockLimit.Uint64())
	if err != nil {
		return hash, fmt.Errorf("anchor batch %x: %w", batchID, err)
	}
	if st, _ := rpcjson.ParseUint(rc.Status); st != 0 {
		// Most likely "evidence already stored": someone (perhaps an earlier attempt of ours)
		// stored the id between our check and our transaction.
		if done, err := a.checkStored(ctx, batchID, root); done || err != nil {
			if errors.Is(err, ErrAlreadyAnchoredByUs) {
				return common.Hash{}, err // our refused transaction is not the anchor
			}
			return hash, err
		}
		return hash, fmt.Errorf("anchor batch %x: transaction %s failed with status %s (%s)", batchID, hash.Hex(), rc.Status, rpcjson.StatusMsg(st))
	}
	return hash, nil
}

// checkStored reports done=true with ErrAlreadyAnchoredByUs or ErrAnchoredByOther when the
// contract already holds batchID.
func (a *Anchorer) checkStored(ctx context.Context, batchID, root [32]byte) (bool, error) {
	st, err := Get(ctx, a.node, a.contract, batchID)
	if err != nil {
		return false, fmt.Errorf("anchor batch %x: %w", batchID, err)
	}
	if st.Submitter == (common.Address{}) {
		return false, nil
	}
	if st.Submitter == a.from && st.DocHash == root {
		return true, ErrAlreadyAnchoredByUs
	}
	return true, fmt.Errorf("anchor batch %x: stored in block %d by %s with root %x, ours is %x from %s: %w",
		batchID, st.BlockNumber, st.Submitter.Hex(), st.DocHash, root, a.from.Hex(), ErrAnchoredByOther)
}

func (a *Anchorer) sign(head uint64, data []byte) (*block.Transaction, error) {
	// A random 250-bit nonce, as go-sdk draws; the node refuses a nonce seen before.
	nb := make([]byte, 32)
	if _, err := rand.Read(nb); err != nil {
		return nil, fmt.Errorf("draw transaction nonce: %w", err)
	}
	nonce := new(big.Int).Rsh(new(big.Int).SetBytes(nb), 6)
	to := a.contract
	tx := &block.Transaction{
		Nonce:      nonce,
		GasPrice:   big.NewInt(gasPrice),
		Gas:        big.NewInt(gasLimit),
		BlockLimit: new(big.Int).SetUint64(head + blockLimitAhead),
		To:         &to,
		Value:      new(big.Int),
		Data:       data,
		ChainID:    big.NewInt(a.chainID),
		GroupID:    big.NewInt(int64(a.node.group)),
	}
	if err := tx.Sign(a.node.suite, a.key); err != nil {
		return nil, fmt.Errorf("sign anchor transaction: %w", err)
	}
	return tx, nil
}

// waitReceipt polls for the receipt until it appears, the chain passes blockLimit without it
// (the transaction can no longer be sealed) or ctx ends.
func (a *Anchorer) waitReceipt(ctx context.Context, tx common.Hash, blockLimit uint64) (*rpcjson.Receipt, error) {
	wait := a.poll
	for {
		rc, err := a.node.receipt(ctx, tx)
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, errNotFound) {
			return nil, err
		}
		head, err := a.node.BlockNumber(ctx)
		if err != nil {
			return nil, err
		}
		if head >= blockLimit {
			// One more look: the transaction may be in the block that reached the limit.
			if rc, err := a.node.receipt(ctx, tx); err == nil {
				return rc, nil
			}
			return nil, fmt.Errorf("transaction %s not sealed by block limit %d (head %d)", tx.Hex(), blockLimit, head)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for receipt of %s: %w", tx.Hex(), context.Cause(ctx))
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// Get reads what the Evidence contract at contract stores under id; a zero Submitter means
// nothing is stored.
func Get(ctx context.Context, node *Node, contract common.Address, id [32]byte) (Stored, error) {
	args, err := parsedABI().Methods["get"].Inputs.Pack(id)
	if err != nil {
		return Stored{}, fmt.Errorf("pack %s: %w", GetSignature, err)
	}
	out, err := node.callContract(ctx, contract, append(selector(node.suite, GetSignature), args...))
	if err != nil {
		return Stored{}, fmt.Errorf("read evidence %x: %w", id, err)
	}
	st, err := unpackGet(id, out)
	if err != nil {
		return Stored{}, fmt.Errorf("read evidence %x from %s: %w", id, contract.Hex(), err)
	}
	return st, nil
}

// Locate returns the anchor of batchID stored by transaction tx: the receipt's block and the
// index of its EvidenceStored log for batchID emitted by contract.
func Locate(ctx context.Context, node *Node, contract common.Address, tx common.Hash, batchID [32]byte) (evidence.Anchor, error) {
	rc, err := node.receipt(ctx, tx)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("locate anchor of batch %x: %w", batchID, err)
	}
	if st, err := rpcjson.ParseUint(rc.Status); err != nil || st != 0 {
		return evidence.Anchor{}, fmt.Errorf("locate anchor of batch %x: transaction %s has status %s", batchID, tx.Hex(), rc.Status)
	}
	num, err := rpcjson.ParseUint(rc.BlockNumber)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("locate anchor of batch %x: receipt block number: %w", batchID, err)
	}
	bh, err := rpcjson.ParseHash(rc.BlockHash)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("locate anchor of batch %x: receipt block hash: %w", batchID, err)
	}
	for i, l := range rc.Logs {
		addr, topics, data, err := parseLog(l)
		if err != nil || addr != contract {
			continue
		}
		st, err := DecodeEvidenceStored(node.suite, topics, data)
		if err == nil && st.ID == batchID {
			return evidence.Anchor{Contract: contract, BlockNumber: num, BlockHash: bh, TxHash: tx, LogIndex: uint(i)}, nil
		}
	}
	return evidence.Anchor{}, fmt.Errorf("locate anchor of batch %x: transaction %s has no EvidenceStored log of %s for it", batchID, tx.Hex(), contract.Hex())
}

// FindAnchor finds where batchID was stored without the transaction hash (after
// ErrAlreadyAnchoredByUs): the block get(batchID) names, then the transaction of that block
// whose receipt carries the EvidenceStored log.
func FindAnchor(ctx context.Context, node *Node, contract common.Address, batchID [32]byte) (evidence.Anchor, error) {
	st, err := Get(ctx, node, contract, batchID)
	if err != nil {
		return evidence.Anchor{}, err
	}
	if st.Submitter == (common.Address{}) {
		return evidence.Anchor{}, fmt.Errorf("find anchor of batch %x: not stored in %s", batchID, contract.Hex())
	}
	b, err := node.block(ctx, st.BlockNumber)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("find anchor of batch %x: %w", batchID, err)
	}
	for _, h := range b.Transactions.Hashes {
		tx, err := rpcjson.ParseHash(h)
		if err != nil {
			return evidence.Anchor{}, fmt.Errorf("find anchor of batch %x: block %d: %w", batchID, st.BlockNumber, err)
		}
		if a, err := Locate(ctx, node, contract, tx, batchID); err == nil {
			return a, nil
		}
	}
	return evidence.Anchor{}, fmt.Errorf("find anchor of batch %x: no transaction of block %d stored it", batchID, st.BlockNumber)
}

func parseLog(l rpcjson.Log) (common.Address, []common.Hash, []byte, error) {
	addr, err := rpcjson.ParseAddress(l.Address)
	if err != nil {
		return common.Address{}, nil, nil, fmt.Errorf("log address: %w", err)
	}
	topics := make([]common.Hash, len(l.Topics))
	for i, t := range l.Topics {
		if topics[i], err = rpcjson.ParseHash(t); err != nil {
			return common.Address{}, nil, nil, fmt.Errorf("log topic %d: %w", i, err)
		}
	}
	data, err := rpcjson.ParseBytes(l.Data)
	if err != nil {
		return common.Address{}, nil, nil, fmt.Errorf("log data: %w", err)
	}
	return addr, topics, data, nil
}
