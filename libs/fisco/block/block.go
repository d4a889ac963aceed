package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

var (
	blockFields = []string{"header", "transactions", "blockHash", "sigList", "receipts"}
	sigFields   = []string{"index", "signature"}
)

// SigEntry is one consensus signature: the signer's position in the header's sealerList and
// its signature over the block hash (65 bytes ECDSA, 128 bytes SM2).
type SigEntry struct {
	Index     uint64
	Signature []byte
}

// Block is a FISCO BCOS 2.x block as stored in _sys_hash_2_block_ (Block::encodeRC2): the RLP
// list [header, transactions, blockHash, sigList, receipts]. The transactions item is a byte
// string in the node's parallel layout (see EncodeTransactions).
type Block struct {
	Header       *Header
	Transactions []*Transaction
	// BlockHash is the hash stored in the block; a valid block has BlockHash == Header.Hash.
	BlockHash  common.Hash
	Signatures []SigEntry
	Receipts   []*Receipt
}

// DecodeBlock decodes a block RLP. Header, transactions and receipts remember their bytes, so
// their hashes are taken over exactly the bytes received. Decoding does not hash: check
// BlockHash with VerifyHash.
func DecodeBlock(b []byte) (*Block, error) {
	f, err := decodeWhole("block", blockFields, b)
	if err != nil {
		return nil, err
	}
	blk := &Block{}
	rawHeader, err := f.rawList()
	if err != nil {
		return nil, err
	}
	if blk.Header, err = DecodeHeader(rawHeader); err != nil {
		return nil, fmt.Errorf("decode block header: %w", err)
	}
	txs, err := f.str()
	if err != nil {
		return nil, err
	}
	if blk.Transactions, err = DecodeTransactions(txs); err != nil {
		return nil, fmt.Errorf("decode block transactions: %w", err)
	}
	if blk.BlockHash, err = f.hash(); err != nil {
		return nil, err
	}
	sigs, err := f.list()
	if err != nil {
		return nil, err
	}
	if blk.Signatures, err = decodeSigList(sigs); err != nil {
		return nil, fmt.Errorf("decode block sigList: %w", err)
	}
	receipts, err := f.list()
	if err != nil {
		return nil, err
	}
	if blk.Receipts, err = decodeReceiptList(receipts); err != nil {
		return nil, fmt.Errorf("decode block receipts: %w", err)
	}
	return blk, nil
}

// DecodeSigList decodes an RLP list of [index, signature] pairs: the block's item 3, and the
// sigs column of _sys_hash_2_header_.
func DecodeSigList(b []byte) ([]SigEntry, error) {
	content, rest, err := rlp.SplitList(b)
	if err != nil {
		return nil, &FieldError{Type: "sigList", Field: "(list)", Err: err}
	}
	if len(rest) != 0 {
		return nil, &FieldError{Type: "sigList", Field: "(list)", Err: fmt.Errorf("%d trailing bytes after the list", len(rest))}
	}
	return decodeSigList(content)
}

func decodeSigList(content []byte) ([]SigEntry, error) {
	var out []SigEntry
	for len(content) > 0 {
		f, rest, err := openList("signature", sigFields, content)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(out), err)
		}
		content = rest
		var e SigEntry
		if e.Index, err = f.uint(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(out), err)
		}
		if e.Signature, err = f.bytes(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(out), err)
		}
		if len(f.rest) != 0 {
			return nil, fmt.Errorf("entry %d: %w", len(out), &FieldError{Type: "signature", Field: "(list)", Err: errors.New("more than 2 items")})
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeReceiptList(content []byte) ([]*Receipt, error) {
	var out []*Receipt
	f := &fields{typ: "receipts", rest: content}
	for len(f.rest) > 0 {
		raw, err := f.rawList()
		if err != nil {
			return nil, err
		}
		r, err := DecodeReceipt(raw)
		if err != nil {
			return nil, fmt.Errorf("receipt %d: %w", len(out), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// DecodeTransactions decodes the block's transactions item (TxsParallelParser): u32 count,
// count+1 u32 offsets (offset[0] = 0, offset[i+1] = offset[i] + len(tx i)), then the signed
// transaction RLPs back to back. The u32s are LITTLE-endian (host order), unlike the binlog.
// An empty string means no transactions.
func DecodeTransactions(b []byte) ([]*Transaction, error) {
	if len(b) == 0 {
		return nil, nil
	}
	fail := func(format string, args ...any) error {
		return &FieldError{Type: "transactions", Field: "(offset table)", Err: fmt.Errorf(format, args...)}
	}
	if len(b) < 4 {
		return nil, fail("%d bytes, too short for a count", len(b))
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if n == 0 {
		return nil, fail("count 0 in a non-empty string")
	}
	head := 4 * (n + 2)
	if uint64(len(b)) < head {
		return nil, fail("%d bytes, too short for %d offsets", len(b), n+1)
	}
	body := b[head:]
	if off0 := binary.LittleEndian.Uint32(b[4:]); off0 != 0 {
		return nil, fail("offset 0 is %d, want 0", off0)
	}
	if last := binary.LittleEndian.Uint32(b[4+4*n:]); uint64(last) != uint64(len(body)) {
		return nil, fail("last offset %d, want the body size %d", last, len(body))
	}
	txs := make([]*Transaction, n)
	for i := range n {
		start := binary.LittleEndian.Uint32(b[4+4*i:])
		end := binary.LittleEndian.Uint32(b[8+4*i:])
		if end < start || uint64(end) > uint64(len(body)) {
			return nil, fail("transaction %d spans [%d, %d) of %d bytes", i, start, end, len(body))
		}
		t, err := DecodeTransaction(body[start:end])
		if err != nil {
			return nil, fmt.Errorf("transaction %d: %w", i, err)
		}
		txs[i] = t
	}
	return txs, nil
}

// EncodeTransactions returns the block's transactions item (the inverse of DecodeTransactions):
// empty for no transactions. It fails only past the 4 GiB the u32 offsets can address.
func EncodeTransactions(txs []*Transaction) ([]byte, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	raws := make([][]byte, len(txs))
	total := 0
	for i, t := range txs {
		raws[i] = t.Bytes()
		total += len(raws[i])
	}
	if len(txs) >= math.MaxUint32 || uint64(total) > math.MaxUint32 {
		return nil, fmt.Errorf("encode %d transactions of %d bytes: beyond u32 offsets", len(txs), total)
	}
	out := make([]byte, 4*(len(txs)+2), 4*(len(txs)+2)+total)
	binary.LittleEndian.PutUint32(out, uint32(len(txs)))
	off := 0
	for i, r := range raws {
		off += len(r)
		binary.LittleEndian.PutUint32(out[8+4*i:], uint32(off))
		out = append(out, r...)
	}
	return out, nil
}

// Encode returns the block RLP. Header, transactions and receipts contribute their Bytes, so a
// decoded block re-encodes to the bytes it came from.
func (b *Block) Encode() ([]byte, error) {
	if b.Header == nil {
		return nil, errors.New("encode block: no header")
	}
	txs, err := EncodeTransactions(b.Transactions)
	if err != nil {
		return nil, fmt.Errorf("encode block %d: %w", b.Header.Number, err)
	}
	header := b.Header.Bytes()
	c := make([]byte, 0, len(header)+len(txs)+64+len(b.Signatures)*140+len(b.Receipts)*400)
	c = append(c, header...)
	c = appendString(c, txs)
	c = appendString(c, b.BlockHash[:])
	c = append(c, EncodeSigList(b.Signatures)...)
	var receipts []byte
	for _, r := range b.Receipts {
		receipts = append(receipts, r.Bytes()...)
	}
	c = appendList(c, receipts)
	return appendList(nil, c), nil
}

// EncodeSigList returns the RLP list of [index, signature] pairs (the inverse of DecodeSigList).
func EncodeSigList(sigs []SigEntry) []byte {
	c := make([]byte, 0, len(sigs)*140)
	for _, e := range sigs {
		item := appendUint(make([]byte, 0, 140), e.Index)
		item = appendString(item, e.Signature)
		c = appendList(c, item)
	}
	return appendList(nil, c)
}

// VerifyHash checks that BlockHash equals Hash(header RLP).
func (b *Block) VerifyHash(s *cryptosuite.Suite) error {
	if b.Header == nil {
		return errors.New("verify block hash: no header")
	}
	if got := b.Header.Hash(s); got != b.BlockHash {
		return fmt.Errorf("verify block %d: stored hash %s, header hashes to %s: %w", b.Header.Number, b.BlockHash.Hex(), got.Hex(), ErrHashMismatch)
	}
	return nil
}

// VerifySignatures checks every signature entry over BlockHash against
// Header.SealerList[Index], and that no sealer signs twice. It does not count them: how many
// are required (2f+1 of the sealers) is the verifier's policy. Errors are *SignatureError.
func (b *Block) VerifySignatures(s *cryptosuite.Suite) error {
	if b.Header == nil {
		return errors.New("verify block signatures: no header")
	}
	seen := make(map[uint64]bool, len(b.Signatures))
	for i, e := range b.Signatures {
		if e.Index >= uint64(len(b.Header.SealerList)) {
			return &SignatureError{Position: i, Index: e.Index, Err: fmt.Errorf("index beyond the %d sealers", len(b.Header.SealerList))}
		}
		if seen[e.Index] {
			return &SignatureError{Position: i, Index: e.Index, Err: errors.New("sealer signed twice")}
		}
		seen[e.Index] = true
		if err := s.Verify(b.Header.SealerList[e.Index], b.BlockHash, e.Signature); err != nil {
			return &SignatureError{Position: i, Index: e.Index, Err: err}
		}
	}
	return nil
}

// Assemble builds a block for sealing: it validates the parts, sets the header's transactions
// and receipts roots by rule, and BlockHash to the resulting header hash. Add signatures with
// Sign. The header is modified in place (and forgets any decoded bytes). Real genesis blocks
// keep all-zero roots: build those as a Block literal with BlockHash = Header.Hash instead.
func Assemble(s *cryptosuite.Suite, h *Header, txs []*Transaction, receipts []*Receipt, rule RootRule) (*Block, error) {
	if h == nil {
		return nil, errors.New("assemble block: no header")
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("assemble block %d: %w", h.Number, err)
	}
	for i, t := range txs {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("assemble block %d: transaction %d: %w", h.Number, i, err)
		}
	}
	for i, r := range receipts {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("assemble block %d: receipt %d: %w", h.Number, i, err)
		}
	}
	txRoot, err := TransactionsRoot(s, txs, rule)
	if err != nil {
		return nil, fmt.Errorf("assemble block %d: %w", h.Number, err)
	}
	h.TransactionsRoot = txRoot
	h.ReceiptsRoot = ReceiptsRoot(s, receipts, rule)
	h.Invalidate()
	return &Block{Header: h, Transactions: txs, BlockHash: h.Hash(s), Receipts: receipts}, nil
}

// Sign appends the consensus signature of the sealer at index (key must be that sealer's)
// over BlockHash.
func (b *Block) Sign(s *cryptosuite.Suite, index uint64, key *cryptosuite.PrivateKey) error {
	sig, err := s.Sign(key, b.BlockHash)
	if err != nil {
		return fmt.Errorf("sign block %s as sealer %d: %w", b.BlockHash.Hex(), index, err)
	}
	b.Signatures = append(b.Signatures, SigEntry{Index: index, Signature: sig})
	return nil
}
