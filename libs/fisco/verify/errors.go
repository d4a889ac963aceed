package verify

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Names of the checks a block can fail, as CheckError.Check.
const (
	// CheckCRC: the binlog record's CRC-32 does not match its bytes.
	CheckCRC = "crc"
	// CheckDecode: the record does not hold exactly one decodable block (_sys_hash_2_block_),
	// or the block's parts do not fit together (receipts per transaction).
	CheckDecode = "decode"
	// CheckNumber: the header number differs from the record's, or is not the previous
	// block's plus one.
	CheckNumber = "number"
	// CheckHeaderHash: Hash(header) differs from block item 2, the _sys_hash_2_block_ key,
	// _sys_number_2_hash_ or the _sys_hash_2_header_ row.
	CheckHeaderHash = "header-hash"
	// CheckParentLink: the header's parentHash is not the previous block's hash.
	CheckParentLink = "parent-link"
	// CheckTxHash: the block's transaction hashes are not exactly the _sys_tx_hash_2_block_
	// keys of the record.
	CheckTxHash = "tx-hash"
	// CheckTxIndex: a _sys_tx_hash_2_block_ row names another block or position.
	CheckTxIndex = "tx-index"
	// CheckTxRoot: the header's transactionsRoot does not match the transactions.
	CheckTxRoot = "tx-root"
	// CheckReceiptRoot: the header's receiptsRoot does not match the receipts.
	CheckReceiptRoot = "receipt-root"
	// CheckSignatures: a consensus signature is invalid, repeated or out of range, or fewer
	// than the quorum of sealers signed.
	CheckSignatures = "signatures"
	// CheckSealerSet: the header's sealerList differs from the sealers tracked from
	// _sys_consensus_.
	CheckSealerSet = "sealer-set"
	// CheckSender: a transaction's signature does not yield a sender.
	CheckSender = "sender"
)

// ErrInvalidBlock is matched (errors.Is) by every *CheckError.
var ErrInvalidBlock = errors.New("block verification failed")

// CheckError reports the first check a block failed.
type CheckError struct {
	// Block is the block number (the record's, when the block could not be decoded).
	Block uint64
	// Hash is the block hash as computed from the header; zero when there is no header.
	Hash common.Hash
	// Check names the failed check (one of the Check constants).
	Check string
	// Err is the detail.
	Err error
}

// Error names the block, its hash when known, and the check.
func (e *CheckError) Error() string {
	if e.Hash == (common.Hash{}) {
		return fmt.Sprintf("verify block %d: %s: %v", e.Block, e.Check, e.Err)
	}
	return fmt.Sprintf("verify block %d (%s): %s: %v", e.Block, e.Hash.Hex(), e.Check, e.Err)
}

// Unwrap returns the detail.
func (e *CheckError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidBlock) true.
func (e *CheckError) Is(target error) bool { return target == ErrInvalidBlock }
