package block

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

var (
	receiptFields          = []string{"stateRoot", "gasUsed", "contractAddress", "logsBloom", "status", "output", "logs"}
	receiptFieldsRemainGas = []string{"stateRoot", "gasUsed", "contractAddress", "logsBloom", "status", "output", "remainGas", "logs"}
	logFields              = []string{"address", "topics", "data"}
)

// Log is one event: a 3-item RLP list [address, topics, data].
type Log struct {
	Address common.Address
	Topics  []common.Hash
	Data    []byte
}

// Receipt is a FISCO BCOS 2.x transaction receipt. Chains with supported_version < 2.9.0 write
// 7 items; from 2.9.0 an 8th, remainGas, sits before the logs. HasRemainGas records which form
// the receipt has, so a decoded receipt re-encodes to the same bytes.
type Receipt struct {
	// StateRoot equals the block header's stateRoot.
	StateRoot common.Hash
	// GasUsed is cumulative within the block before 2.9.0, per transaction from 2.9.0.
	GasUsed *big.Int
	// ContractAddress is the created contract, or all zeros.
	ContractAddress common.Address
	Bloom           Bloom
	// Status is the TransactionException code, 0 for success.
	Status uint64
	Output []byte
	// HasRemainGas selects the 8-item (supported_version ≥ 2.9.0) encoding.
	HasRemainGas bool
	// RemainGas is only encoded when HasRemainGas is set; nil encodes as 0.
	RemainGas *big.Int
	Logs      []Log

	raw []byte
}

// DecodeReceipt decodes a receipt RLP of either form. The receipt remembers b, so Bytes and
// Hash use exactly these bytes.
func DecodeReceipt(b []byte) (*Receipt, error) {
	content, rest, err := rlp.SplitList(b)
	if err != nil {
		return nil, &FieldError{Type: "receipt", Field: "(list)", Err: err}
	}
	if len(rest) != 0 {
		return nil, &FieldError{Type: "receipt", Field: "(list)", Err: fmt.Errorf("%d trailing bytes after the list", len(rest))}
	}
	n, err := rlp.CountValues(content)
	if err != nil {
		return nil, &FieldError{Type: "receipt", Field: "(list)", Err: err}
	}
	names := receiptFields
	switch n {
	case len(receiptFields):
	case len(receiptFieldsRemainGas):
		names = receiptFieldsRemainGas
	default:
		return nil, &FieldError{Type: "receipt", Field: "(list)", Err: fmt.Errorf("%d items, want 7 or 8", n)}
	}
	f := &fields{typ: "receipt", names: names, rest: content}
	r := &Receipt{raw: append([]byte(nil), b...), HasRemainGas: n == len(receiptFieldsRemainGas)}
	if r.StateRoot, err = f.hash(); err != nil {
		return nil, err
	}
	if r.GasUsed, err = f.big(); err != nil {
		return nil, err
	}
	if r.ContractAddress, err = f.address(); err != nil {
		return nil, err
	}
	bloom, err := f.fixed(BloomLen)
	if err != nil {
		return nil, err
	}
	copy(r.Bloom[:], bloom)
	if r.Status, err = f.uint(); err != nil {
		return nil, err
	}
	if r.Output, err = f.bytes(); err != nil {
		return nil, err
	}
	if r.HasRemainGas {
		if r.RemainGas, err = f.big(); err != nil {
			return nil, err
		}
	}
	logs, err := f.list()
	if err != nil {
		return nil, err
	}
	for i := 0; len(logs) > 0; i++ {
		var l Log
		if l, logs, err = decodeLog(logs); err != nil {
			return nil, f.failPrev(fmt.Errorf("log %d: %w", i, err))
		}
		r.Logs = append(r.Logs, l)
	}
	return r, nil
}

func decodeLog(b []byte) (Log, []byte, error) {
	var l Log
	f, rest, err := openList("log", logFields, b)
	if err != nil {
		return l, b, err
	}
	if n, err := rlp.CountValues(f.rest); err != nil {
		return l, b, &FieldError{Type: "log", Field: "(list)", Err: err}
	} else if n != len(logFields) {
		return l, b, &FieldError{Type: "log", Field: "(list)", Err: fmt.Errorf("%d items, want 3", n)}
	}
	if l.Address, err = f.address(); err != nil {
		return l, b, err
	}
	content, err := f.list()
	if err != nil {
		return l, b, err
	}
	topics, err := f.splitStrings(content, common.HashLength)
	if err != nil {
		return l, b, err
	}
	for _, t := range topics {
		l.Topics = append(l.Topics, common.BytesToHash(t))
	}
	if l.Data, err = f.bytes(); err != nil {
		return l, b, err
	}
	return l, rest, nil
}

func (l *Log) appendRLP(b []byte) []byte {
	c := appendString(make([]byte, 0, 24+len(l.Topics)*33+len(l.Data)+9), l.Address[:])
	topics := make([]byte, 0, len(l.Topics)*33)
	for _, t := range l.Topics {
		topics = appendString(topics, t[:])
	}
	c = appendList(c, topics)
	c = appendString(c, l.Data)
	return appendList(b, c)
}

// Encode returns a fresh RLP encoding of the receipt, in the form HasRemainGas selects.
func (r *Receipt) Encode() []byte {
	c := make([]byte, 0, 33+33+21+259+9+len(r.Output)+9+64*len(r.Logs))
	c = appendString(c, r.StateRoot[:])
	c = appendBig(c, r.GasUsed)
	c = appendString(c, r.ContractAddress[:])
	c = appendString(c, r.Bloom[:])
	c = appendUint(c, r.Status)
	c = appendString(c, r.Output)
	if r.HasRemainGas {
		c = appendBig(c, r.RemainGas)
	}
	var logs []byte
	for i := range r.Logs {
		logs = r.Logs[i].appendRLP(logs)
	}
	c = appendList(c, logs)
	return appendList(nil, c)
}

// Bytes returns the receipt RLP: the bytes it was decoded from, or a fresh encoding for a
// receipt built in code. Do not modify the result.
func (r *Receipt) Bytes() []byte {
	if r.raw != nil {
		return r.raw
	}
	return r.Encode()
}

// Invalidate drops the bytes remembered from decoding. Call it after changing the fields of a
// decoded receipt, or Bytes and Hash keep describing the original.
func (r *Receipt) Invalidate() { r.raw = nil }

// Hash returns Hash(receipt RLP), the leaf value of the receipts root.
func (r *Receipt) Hash(s *cryptosuite.Suite) common.Hash { return s.Hash(r.Bytes()) }

// ComputeBloom returns the bloom of the receipt's logs; a valid receipt's Bloom equals it.
func (r *Receipt) ComputeBloom(s *cryptosuite.Suite) Bloom { return LogsBloom(s, r.Logs) }

// Validate reports fields that cannot be encoded faithfully.
func (r *Receipt) Validate() error {
	if err := checkU256("receipt", "gasUsed", r.GasUsed); err != nil {
		return err
	}
	return checkU256("receipt", "remainGas", r.RemainGas)
}
