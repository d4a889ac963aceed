package block

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

var txFields = []string{
	"nonce", "gasPrice", "gas", "blockLimit", "to", "value", "data",
	"chainId", "groupId", "extraData", "v", "r", "s",
}

// Transaction is a signed FISCO BCOS 2.x ("RC2") transaction: a 13-item RLP list. Integer
// fields are u256 and nil encodes as 0.
type Transaction struct {
	Nonce      *big.Int
	GasPrice   *big.Int
	Gas        *big.Int
	BlockLimit *big.Int
	// To is nil for a contract creation (encoded as an empty string).
	To        *common.Address
	Value     *big.Int
	Data      []byte
	ChainID   *big.Int
	GroupID   *big.Int
	ExtraData []byte
	// V is the content of the v item: one byte 27 or 28 (ECDSA recovery id + 27), or the
	// signer's 64-byte public key (SM2).
	V []byte
	// R and S are the signature integers.
	R *big.Int
	S *big.Int

	raw []byte
}

// DecodeTransaction decodes a signed transaction RLP. The transaction remembers b, so Bytes and
// Hash use exactly these bytes.
func DecodeTransaction(b []byte) (*Transaction, error) {
	f, err := decodeWhole("transaction", txFields, b)
	if err != nil {
		return nil, err
	}
	t := &Transaction{raw: append([]byte(nil), b...)}
	for _, p := range []**big.Int{&t.Nonce, &t.GasPrice, &t.Gas, &t.BlockLimit} {
		if *p, err = f.big(); err != nil {
			return nil, err
		}
	}
	to, err := f.str()
	if err != nil {
		return nil, err
	}
	switch len(to) {
	case 0:
	case common.AddressLength:
		a := common.BytesToAddress(to)
		t.To = &a
	default:
		return nil, f.failPrev(fmt.Errorf("%d bytes, want 0 (creation) or 20", len(to)))
	}
	if t.Value, err = f.big(); err != nil {
		return nil, err
	}
	if t.Data, err = f.bytes(); err != nil {
		return nil, err
	}
	if t.ChainID, err = f.big(); err != nil {
		return nil, err
	}
	if t.GroupID, err = f.big(); err != nil {
		return nil, err
	}
	if t.ExtraData, err = f.bytes(); err != nil {
		return nil, err
	}
	if t.V, err = f.bytes(); err != nil {
		return nil, err
	}
	if t.R, err = f.big(); err != nil {
		return nil, err
	}
	if t.S, err = f.big(); err != nil {
		return nil, err
	}
	return t, nil
}

// appendUnsignedItems appends the RLP of the first ten items (no list header).
func (t *Transaction) appendUnsignedItems(c []byte) []byte {
	c = appendBig(c, t.Nonce)
	c = appendBig(c, t.GasPrice)
	c = appendBig(c, t.Gas)
	c = appendBig(c, t.BlockLimit)
	if t.To != nil {
		c = appendString(c, t.To[:])
	} else {
		c = appendString(c, nil)
	}
	c = appendBig(c, t.Value)
	c = appendString(c, t.Data)
	c = appendBig(c, t.ChainID)
	c = appendBig(c, t.GroupID)
	return appendString(c, t.ExtraData)
}

// Encode returns a fresh RLP encoding of the signed transaction's 13 items.
func (t *Transaction) Encode() []byte {
	c := t.appendUnsignedItems(make([]byte, 0, 200+len(t.Data)+len(t.ExtraData)))
	c = appendString(c, t.V)
	c = appendBig(c, t.R)
	c = appendBig(c, t.S)
	return appendList(nil, c)
}

// EncodeUnsigned returns the RLP list of the first ten items, the bytes the sender signs.
func (t *Transaction) EncodeUnsigned() []byte {
	return appendList(nil, t.appendUnsignedItems(make([]byte, 0, 160+len(t.Data)+len(t.ExtraData))))
}

// Bytes returns the signed transaction RLP: the bytes it was decoded from, or a fresh encoding
// for a transaction built in code. Do not modify the result.
func (t *Transaction) Bytes() []byte {
	if t.raw != nil {
		return t.raw
	}
	return t.Encode()
}

// Invalidate drops the bytes remembered from decoding. Call it after changing the fields of a
// decoded transaction, or Bytes and Hash keep describing the original.
func (t *Transaction) Invalidate() { t.raw = nil }

// Hash returns the transaction hash: Hash(signed RLP).
func (t *Transaction) Hash(s *cryptosuite.Suite) common.Hash { return s.Hash(t.Bytes()) }

// SigningHash returns Hash(unsigned 10-item RLP), the digest the signature covers.
func (t *Transaction) SigningHash(s *cryptosuite.Suite) common.Hash {
	return s.Hash(t.EncodeUnsigned())
}

// IsCreation reports whether the transaction deploys a contract (empty to).
func (t *Transaction) IsCreation() bool { return t.To == nil }

// Signature returns the v, r, s items.
func (t *Transaction) Signature() cryptosuite.TxSignature {
	return cryptosuite.TxSignature{V: t.V, R: t.R, S: t.S}
}

// Sign sets v, r, s to key's signature over the signing hash and drops remembered bytes.
func (t *Transaction) Sign(s *cryptosuite.Suite, key *cryptosuite.PrivateKey) error {
	sig, err := s.SignTx(key, t.SigningHash(s))
	if err != nil {
		return fmt.Errorf("sign transaction: %w", err)
	}
	t.V, t.R, t.S = sig.V, sig.R, sig.S
	t.raw = nil
	return nil
}

// SenderPublicKey returns the signer's public key: ECDSA recovery, or for SM2 the key in v once
// the signature verifies against it.
func (t *Transaction) SenderPublicKey(s *cryptosuite.Suite) (cryptosuite.PublicKey, error) {
	pub, err := s.RecoverTx(t.SigningHash(s), t.Signature())
	if err != nil {
		return pub, fmt.Errorf("recover transaction sender: %w", err)
	}
	return pub, nil
}

// Sender returns the signer's address, Hash(pub)[12:]. A well-formed signature always yields
// some sender: FISCO has no account nonce or balance check to tie it to an intended one.
func (t *Transaction) Sender(s *cryptosuite.Suite) (common.Address, error) {
	pub, err := t.SenderPublicKey(s)
	if err != nil {
		return common.Address{}, err
	}
	return s.Address(pub), nil
}

// Validate reports fields that cannot be encoded faithfully.
func (t *Transaction) Validate() error {
	for i, x := range []*big.Int{t.Nonce, t.GasPrice, t.Gas, t.BlockLimit, nil, t.Value, nil, t.ChainID, t.GroupID, nil, nil, t.R, t.S} {
		if err := checkU256("transaction", txFields[i], x); err != nil {
			return err
		}
	}
	return nil
}
