package block

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

var headerFields = []string{
	"parentHash", "stateRoot", "transactionsRoot", "receiptsRoot", "dbHash", "logsBloom",
	"number", "gasLimit", "gasUsed", "timestamp", "extraData", "sealer", "sealerList",
}

// Header is the 13-field FISCO BCOS 2.x block header (BlockHeader::streamRLPFields).
type Header struct {
	ParentHash       common.Hash
	StateRoot        common.Hash
	TransactionsRoot common.Hash
	ReceiptsRoot     common.Hash
	// DBHash equals StateRoot on real chains: a digest of the storage tables the block changed.
	DBHash common.Hash
	// LogsBloom is all zeros on real chains (the sealer resets it); receipts carry the blooms.
	LogsBloom Bloom
	Number    uint64
	// GasLimit and GasUsed are u256 and 0 on real chains; nil encodes as 0.
	GasLimit *big.Int
	GasUsed  *big.Int
	// Timestamp is in milliseconds since the Unix epoch.
	Timestamp uint64
	// ExtraData is a list of byte strings; the genesis block carries the group genesis mark.
	ExtraData [][]byte
	// Sealer is the index of the proposer in SealerList.
	Sealer uint64
	// SealerList holds the node ids (64-byte public keys) whose signatures the block needs.
	SealerList []cryptosuite.PublicKey

	raw []byte
}

// DecodeHeader decodes a header RLP. The header remembers b, so Bytes and Hash use exactly
// these bytes.
func DecodeHeader(b []byte) (*Header, error) {
	f, err := decodeWhole("header", headerFields, b)
	if err != nil {
		return nil, err
	}
	h := &Header{raw: append([]byte(nil), b...)}
	for _, hp := range []*common.Hash{&h.ParentHash, &h.StateRoot, &h.TransactionsRoot, &h.ReceiptsRoot, &h.DBHash} {
		if *hp, err = f.hash(); err != nil {
			return nil, err
		}
	}
	bloom, err := f.fixed(BloomLen)
	if err != nil {
		return nil, err
	}
	copy(h.LogsBloom[:], bloom)
	if h.Number, err = f.uint(); err != nil {
		return nil, err
	}
	if h.GasLimit, err = f.big(); err != nil {
		return nil, err
	}
	if h.GasUsed, err = f.big(); err != nil {
		return nil, err
	}
	if h.Timestamp, err = f.uint(); err != nil {
		return nil, err
	}
	content, err := f.list()
	if err != nil {
		return nil, err
	}
	extra, err := f.splitStrings(content, -1)
	if err != nil {
		return nil, err
	}
	for _, e := range extra {
		h.ExtraData = append(h.ExtraData, append([]byte{}, e...))
	}
	if h.Sealer, err = f.uint(); err != nil {
		return nil, err
	}
	if content, err = f.list(); err != nil {
		return nil, err
	}
	ids, err := f.splitStrings(content, cryptosuite.PublicKeyLen)
	if err != nil {
		return nil, err
	}
	h.SealerList = make([]cryptosuite.PublicKey, len(ids))
	for i, id := range ids {
		copy(h.SealerList[i][:], id)
	}
	return h, nil
}

// Encode returns a fresh RLP encoding of the header's fields.
func (h *Header) Encode() []byte {
	c := make([]byte, 0, 5*33+259+64+len(h.SealerList)*66)
	for _, x := range []common.Hash{h.ParentHash, h.StateRoot, h.TransactionsRoot, h.ReceiptsRoot, h.DBHash} {
		c = appendString(c, x[:])
	}
	c = appendString(c, h.LogsBloom[:])
	c = appendUint(c, h.Number)
	c = appendBig(c, h.GasLimit)
	c = appendBig(c, h.GasUsed)
	c = appendUint(c, h.Timestamp)
	var extra []byte
	for _, e := range h.ExtraData {
		extra = appendString(extra, e)
	}
	c = appendList(c, extra)
	c = appendUint(c, h.Sealer)
	ids := make([]byte, 0, len(h.SealerList)*66)
	for _, id := range h.SealerList {
		ids = appendString(ids, id[:])
	}
	c = appendList(c, ids)
	return appendList(nil, c)
}

// Bytes returns the header RLP: the bytes it was decoded from, or a fresh encoding for a header
// built in code. Do not modify the result.
func (h *Header) Bytes() []byte {
	if h.raw != nil {
		return h.raw
	}
	return h.Encode()
}

// Invalidate drops the bytes remembered from decoding. Call it after changing the fields of a
// decoded header, or Bytes and Hash keep describing the original.
func (h *Header) Invalidate() { h.raw = nil }

// Hash returns the block hash: Hash(header RLP) with the suite's hash function.
func (h *Header) Hash(s *cryptosuite.Suite) common.Hash { return s.Hash(h.Bytes()) }

// Validate reports fields that cannot be encoded faithfully (negative or oversized integers).
func (h *Header) Validate() error {
	if err := checkU256("header", "gasLimit", h.GasLimit); err != nil {
		return err
	}
	return checkU256("header", "gasUsed", h.GasUsed)
}
