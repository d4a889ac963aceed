package block

import (
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// RootRule selects how transaction and receipt roots are computed; it follows the chain's
// supported_version, not the node binary.
type RootRule int

const (
	// MerkleRoots is the rule for supported_version ≥ 2.2.0: a 16-ary Merkle tree over the
	// leaves rlp(i) ‖ Hash(item i) (Block::calTransactionRootV2_2_0, TrieHash2 getHash256).
	MerkleRoots RootRule = iota
	// RC2Roots is the rule for RC2 ≤ supported_version < 2.2.0: Hash(the whole transactions
	// item) and Hash(RLP list of receipts).
	RC2Roots
)

// String names the rule.
func (r RootRule) String() string {
	switch r {
	case MerkleRoots:
		return "merkle"
	case RC2Roots:
		return "rc2"
	default:
		return fmt.Sprintf("RootRule(%d)", int(r))
	}
}

// merkleFanout is MAX_CHILD_COUNT in TrieHash2.
const merkleFanout = 16

// MerkleRoot returns the v2.2.0+ root over item hashes: leaves rlp(i) ‖ hashes[i]; while more
// than one node remains, each run of 16 consecutive nodes is concatenated and hashed; the root
// is Hash(the last node), so even one leaf is hashed once more. No items give Hash(empty).
func MerkleRoot(s *cryptosuite.Suite, hashes []common.Hash) common.Hash {
	if len(hashes) == 0 {
		return s.Hash(nil)
	}
	level := make([][]byte, len(hashes))
	for i, h := range hashes {
		level[i] = append(rlpUint(uint64(i)), h[:]...)
	}
	for len(level) > 1 {
		next := make([][]byte, 0, (len(level)+merkleFanout-1)/merkleFanout)
		for i := 0; i < len(level); i += merkleFanout {
			h := s.Hash(level[i:min(i+merkleFanout, len(level))]...)
			next = append(next, h[:])
		}
		level = next
	}
	return s.Hash(level[0])
}

// TransactionsRoot returns the header's transactionsRoot for txs under rule. It fails only for
// RC2Roots on a transactions item beyond 4 GiB.
func TransactionsRoot(s *cryptosuite.Suite, txs []*Transaction, rule RootRule) (common.Hash, error) {
	switch rule {
	case RC2Roots:
		b, err := EncodeTransactions(txs)
		if err != nil {
			return common.Hash{}, fmt.Errorf("compute rc2 transactions root: %w", err)
		}
		return s.Hash(b), nil
	default:
		hashes := make([]common.Hash, len(txs))
		for i, t := range txs {
			hashes[i] = t.Hash(s)
		}
		return MerkleRoot(s, hashes), nil
	}
}

// ReceiptsRoot returns the header's receiptsRoot for receipts under rule.
func ReceiptsRoot(s *cryptosuite.Suite, receipts []*Receipt, rule RootRule) common.Hash {
	switch rule {
	case RC2Roots:
		var c []byte
		for _, r := range receipts {
			c = append(c, r.Bytes()...)
		}
		return s.Hash(appendList(nil, c))
	default:
		hashes := make([]common.Hash, len(receipts))
		for i, r := range receipts {
			hashes[i] = r.Hash(s)
		}
		return MerkleRoot(s, hashes)
	}
}

// VerifyRoots checks the header's transactionsRoot and receiptsRoot against the body under rule.
func (b *Block) VerifyRoots(s *cryptosuite.Suite, rule RootRule) error {
	if b.Header == nil {
		return fmt.Errorf("verify block roots: no header")
	}
	txRoot, err := TransactionsRoot(s, b.Transactions, rule)
	if err != nil {
		return fmt.Errorf("verify block %d roots: %w", b.Header.Number, err)
	}
	if txRoot != b.Header.TransactionsRoot {
		return fmt.Errorf("verify block %d: transactionsRoot %s, %s rule gives %s: %w", b.Header.Number, b.Header.TransactionsRoot.Hex(), rule, txRoot.Hex(), ErrHashMismatch)
	}
	if rr := ReceiptsRoot(s, b.Receipts, rule); rr != b.Header.ReceiptsRoot {
		return fmt.Errorf("verify block %d: receiptsRoot %s, %s rule gives %s: %w", b.Header.Number, b.Header.ReceiptsRoot.Hex(), rule, rr.Hex(), ErrHashMismatch)
	}
	return nil
}
