package chain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/rpcjson"
)

// Names of the on-chain checks, run after the offline ones in this order.
const (
	CheckAnchor  = "anchor present"
	CheckReceipt = "anchor receipt"
	CheckLog     = "EvidenceStored log"
	CheckBlock   = "anchor block"
)

// ErrAnchorMismatch reports an anchor that the chain does not confirm.
var ErrAnchorMismatch = errors.New("anchor not confirmed by the chain")

// VerifyOnChain checks p offline (evidence.Proof.VerifyOffline) and then its anchor against the
// node: the receipt of the anchor transaction succeeded; its log at the anchor's log index was
// emitted by the anchor contract and is EvidenceStored for the proof's batch id with the
// proof's root as docHash and metadata naming the proof's segment and tree size; the receipt's
// block is the anchor's; and the node's block at that number has that hash and contains the
// transaction. The error is an *evidence.CheckError naming the first failed check.
func VerifyOnChain(ctx context.Context, node *Node, p *evidence.Proof) error {
	return VerifyOnChainReport(ctx, node, p, nil)
}

// VerifyOnChainReport is VerifyOnChain calling report (when not nil) after each passed check.
func VerifyOnChainReport(ctx context.Context, node *Node, p *evidence.Proof, report func(check, detail string)) error {
	if report == nil {
		report = func(string, string) {}
	}
	if err := p.VerifyOfflineReport(report); err != nil {
		return err
	}
	fail := func(check string, format string, args ...any) error {
		return &evidence.CheckError{Check: check, Err: fmt.Errorf("%w: %w", ErrAnchorMismatch, fmt.Errorf(format, args...))}
	}
	a := p.Anchor
	if a.IsZero() {
		return fail(CheckAnchor, "the proof carries no anchor (batch not anchored yet)")
	}
	report(CheckAnchor, fmt.Sprintf("tx %s, block %d, log %d, contract %s", a.TxHash.Hex(), a.BlockNumber, a.LogIndex, a.Contract.Hex()))

	rc, err := node.receipt(ctx, a.TxHash)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return fail(CheckReceipt, "no receipt for transaction %s on the node", a.TxHash.Hex())
		}
		return &evidence.CheckError{Check: CheckReceipt, Err: err}
	}
	if h, err := rpcjson.ParseHash(rc.TransactionHash); err != nil || h != a.TxHash {
		return fail(CheckReceipt, "node returned the receipt of %q for transaction %s", rc.TransactionHash, a.TxHash.Hex())
	}
	if st, err := rpcjson.ParseUint(rc.Status); err != nil || st != 0 {
		return fail(CheckReceipt, "transaction %s has status %s", a.TxHash.Hex(), rc.Status)
	}
	report(CheckReceipt, fmt.Sprintf("status 0, %d logs", len(rc.Logs)))

	if a.LogIndex >= uint(len(rc.Logs)) {
		return fail(CheckLog, "log index %d, the receipt has %d logs", a.LogIndex, len(rc.Logs))
	}
	addr, topics, data, err := parseLog(rc.Logs[a.LogIndex])
	if err != nil {
		return fail(CheckLog, "log %d: %v", a.LogIndex, err)
	}
	if addr != a.Contract {
		return fail(CheckLog, "log %d was emitted by %s, not the anchor contract %s", a.LogIndex, addr.Hex(), a.Contract.Hex())
	}
	st, err := DecodeEvidenceStored(node.suite, topics, data)
	if err != nil {
		return fail(CheckLog, "log %d: %v", a.LogIndex, err)
	}
	if st.ID != p.BatchID {
		return fail(CheckLog, "log %d stores id %s, the proof's batch id is %s", a.LogIndex, common.Hash(st.ID).Hex(), common.Hash(p.BatchID).Hex())
	}
	if st.DocHash != p.Root {
		return fail(CheckLog, "log %d stores docHash %s, the proof's root is %s", a.LogIndex, common.Hash(st.DocHash).Hex(), common.Hash(p.Root).Hex())
	}
	if want := node.suite.Hash([]byte(Category)); st.CategoryHash != want {
		return fail(CheckLog, "log %d category hash %s is not %q", a.LogIndex, st.CategoryHash.Hex(), Category)
	}
	meta, err := ParseMetadata(st.Metadata)
	if err != nil {
		return fail(CheckLog, "log %d: %v", a.LogIndex, err)
	}
	if meta.Count != p.TreeSize || meta.Segment != p.Segment {
		return fail(CheckLog, "log %d metadata says %d records in segment %q, the proof %d in %q", a.LogIndex, meta.Count, meta.Segment, p.TreeSize, p.Segment)
	}
	report(CheckLog, fmt.Sprintf("id = batch id, docHash = root, %d records in %s, submitter %s", meta.Count, meta.Segment, st.Submitter.Hex()))

	num, err := rpcjson.ParseUint(rc.BlockNumber)
	if err != nil || num != a.BlockNumber {
		return fail(CheckBlock, "receipt is in block %s, the anchor says %d", rc.BlockNumber, a.BlockNumber)
	}
	if bh, err := rpcjson.ParseHash(rc.BlockHash); err != nil || bh != a.BlockHash {
		return fail(CheckBlock, "receipt is in block hash %s, the anchor says %s", rc.BlockHash, a.BlockHash.Hex())
	}
	b, err := node.block(ctx, a.BlockNumber)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return fail(CheckBlock, "the node has no block %d", a.BlockNumber)
		}
		return &evidence.CheckError{Check: CheckBlock, Err: err}
	}
	if bh, err := rpcjson.ParseHash(b.Hash); err != nil || bh != a.BlockHash {
		return fail(CheckBlock, "the node's block %d is %s, the anchor says %s", a.BlockNumber, b.Hash, a.BlockHash.Hex())
	}
	if !slices.ContainsFunc(b.Transactions.Hashes, func(h string) bool { return strings.EqualFold(h, a.TxHash.Hex()) }) {
		return fail(CheckBlock, "block %d does not contain transaction %s", a.BlockNumber, a.TxHash.Hex())
	}
	report(CheckBlock, fmt.Sprintf("block %d %s is on the node's chain and contains the transaction", a.BlockNumber, a.BlockHash.Hex()))
	return nil
}
