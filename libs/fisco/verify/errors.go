package verify

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// Names of the checks a block can fail, as CheckError.Check. They are the one list of check
// names: services report them to users (stash's Status and verification_failures_total{check}),
// so a name never changes once released.
const (
	// CheckCRC: the binlog record's CRC-32 does not match its bytes.
	CheckCRC = "crc"
	// CheckRecord: the binlog record itself could not be decoded.
	CheckRecord = "record-decode"
	// CheckTruncated: a binlog record was cut short and will not be completed.
	CheckTruncated = "truncated"
	// CheckDecode: the record does not hold exactly one decodable block (_sys_hash_2_block_),
	// or the block's parts do not fit together (receipts per transaction).
	CheckDecode = "decode"
	// CheckGap: the source does not deliver the block that comes next.
	CheckGap = "gap"
	// CheckNumber: the header number differs from the record's, or is not the previous
	// block's plus one.
	CheckNumber = "number"
	// CheckHeaderHash: Hash(header) differs from block item 2, the _sys_hash_2_block_ key,
	// _sys_number_2_hash_ or the _sys_hash_2_header_ row.
	CheckHeaderHash = "header-hash"
	// CheckParentLink: the header's parentHash is not the previous block's hash.
	CheckParentLink = "parent-link"
	// CheckTimestamp: the header's timestamp is not after the previous block's.
	CheckTimestamp = "timestamp"
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
	// CheckSenderClaim: the sender a source reported is not the one the signature yields.
	CheckSenderClaim = "sender-claim"
	// CheckNonces: the record's _sys_block_2_nonces_ row is not the transactions' nonces.
	CheckNonces = "nonces"
	// CheckBlockLimit: a transaction's blockLimit is below the block that included it.
	CheckBlockLimit = "block-limit"
	// CheckDisagreement: two sources deliver different blocks under one number.
	CheckDisagreement = "source-disagreement"
	// CheckSource: no source could deliver the block.
	CheckSource = "source"
)

// Checks lists every check name, in the order a block meets them.
var Checks = []string{
	CheckCRC, CheckRecord, CheckTruncated, CheckDecode, CheckGap, CheckNumber, CheckHeaderHash,
	CheckParentLink, CheckTimestamp, CheckTxHash, CheckTxIndex, CheckTxRoot, CheckReceiptRoot,
	CheckSignatures, CheckSealerSet, CheckSender, CheckSenderClaim, CheckNonces, CheckBlockLimit,
	CheckDisagreement, CheckSource,
}

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
	// Source names where the block came from, when a caller reads several; File and Offset
	// locate its binlog record.
	Source string
	File   string
	Offset int64
	// Err is the detail.
	Err error
}

// Error names the block, its hash when known, the check and the place.
func (e *CheckError) Error() string {
	s := fmt.Sprintf("verify block %d", e.Block)
	if e.Hash != (common.Hash{}) {
		s += " (" + e.Hash.Hex() + ")"
	}
	s += ": " + e.Check
	if e.Source != "" {
		s += " from " + e.Source
	}
	if e.File != "" {
		s += fmt.Sprintf(" (%s offset %d)", e.File, e.Offset)
	}
	return s + ": " + fmt.Sprint(e.Err)
}

// Unwrap returns the detail.
func (e *CheckError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidBlock) true.
func (e *CheckError) Is(target error) bool { return target == ErrInvalidBlock }

// IsCheckError reports the check of a *CheckError in err's chain, or "".
func IsCheckError(err error) (string, bool) {
	if ce, ok := errors.AsType[*CheckError](err); ok {
		return ce.Check, true
	}
	return "", false
}
