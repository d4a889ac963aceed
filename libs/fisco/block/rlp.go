package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// Decoding is strict: every size prefix and integer must be canonical, fixed-size fields must
// have their exact size and lists must hold exactly the expected items. A value that decodes
// therefore re-encodes to the same bytes, which is what makes hashes over re-encoded values
// safe (the FISCO node also re-encodes canonically).

// fields walks the items of one RLP list, naming each for errors.
type fields struct {
	typ   string
	names []string
	rest  []byte
	i     int
}

// openList splits one RLP list off b and returns a walker over its items plus the bytes after
// the list.
func openList(typ string, names []string, b []byte) (*fields, []byte, error) {
	content, rest, err := rlp.SplitList(b)
	if err != nil {
		return nil, b, &FieldError{Type: typ, Field: "(list)", Err: err}
	}
	return &fields{typ: typ, names: names, rest: content}, rest, nil
}

// decodeWhole decodes the single RLP list b with the item names given and fails on trailing
// bytes; it returns the walker.
func decodeWhole(typ string, names []string, b []byte) (*fields, error) {
	f, rest, err := openList(typ, names, b)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, &FieldError{Type: typ, Field: "(list)", Err: fmt.Errorf("%d trailing bytes after the list", len(rest))}
	}
	if n, err := rlp.CountValues(f.rest); err != nil {
		return nil, &FieldError{Type: typ, Field: "(list)", Err: err}
	} else if n != len(names) {
		return nil, &FieldError{Type: typ, Field: "(list)", Err: fmt.Errorf("%d items, want %d", n, len(names))}
	}
	return f, nil
}

func (f *fields) fail(err error) error {
	name := fmt.Sprintf("item %d", f.i)
	if f.i < len(f.names) {
		name = f.names[f.i]
	}
	return &FieldError{Type: f.typ, Field: name, Err: err}
}

// next returns the next item's kind, content and complete encoding.
func (f *fields) next() (rlp.Kind, []byte, []byte, error) {
	if len(f.rest) == 0 {
		return 0, nil, nil, f.fail(errors.New("missing"))
	}
	kind, content, rest, err := rlp.Split(f.rest)
	if err != nil {
		return 0, nil, nil, f.fail(err)
	}
	raw := f.rest[:len(f.rest)-len(rest)]
	f.rest = rest
	return kind, content, raw, nil
}

func (f *fields) advance() { f.i++ }

// str returns the next item, which must be a byte string.
func (f *fields) str() ([]byte, error) {
	kind, content, _, err := f.next()
	if err != nil {
		return nil, err
	}
	if kind == rlp.List {
		return nil, f.fail(rlp.ErrExpectedString)
	}
	f.advance()
	return content, nil
}

// bytes returns a copy of the next byte string; nil when empty.
func (f *fields) bytes() ([]byte, error) {
	b, err := f.str()
	if err != nil || len(b) == 0 {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

func (f *fields) fixed(n int) ([]byte, error) {
	b, err := f.str()
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, f.failPrev(fmt.Errorf("%d bytes, want %d", len(b), n))
	}
	return b, nil
}

func (f *fields) hash() (common.Hash, error) {
	b, err := f.fixed(common.HashLength)
	if err != nil {
		return common.Hash{}, err
	}
	return common.BytesToHash(b), nil
}

func (f *fields) address() (common.Address, error) {
	b, err := f.fixed(common.AddressLength)
	if err != nil {
		return common.Address{}, err
	}
	return common.BytesToAddress(b), nil
}

// intBytes returns the content of a canonical RLP integer of at most maxLen bytes.
func (f *fields) intBytes(maxLen int) ([]byte, error) {
	b, err := f.str()
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && b[0] == 0 {
		return nil, f.failPrev(rlp.ErrCanonInt)
	}
	if len(b) > maxLen {
		return nil, f.failPrev(fmt.Errorf("integer of %d bytes, max %d", len(b), maxLen))
	}
	return b, nil
}

// big returns a canonical u256.
func (f *fields) big() (*big.Int, error) {
	b, err := f.intBytes(32)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(b), nil
}

// uint returns a canonical integer that fits 64 bits.
func (f *fields) uint() (uint64, error) {
	b, err := f.intBytes(8)
	if err != nil {
		return 0, err
	}
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x, nil
}

// list returns the content of the next item, which must be a list.
func (f *fields) list() ([]byte, error) {
	kind, content, _, err := f.next()
	if err != nil {
		return nil, err
	}
	if kind != rlp.List {
		return nil, f.fail(rlp.ErrExpectedList)
	}
	f.advance()
	return content, nil
}

// rawList returns the complete encoding of the next item, which must be a list.
func (f *fields) rawList() ([]byte, error) {
	kind, _, raw, err := f.next()
	if err != nil {
		return nil, err
	}
	if kind != rlp.List {
		return nil, f.fail(rlp.ErrExpectedList)
	}
	f.advance()
	return raw, nil
}

// splitStrings splits list content into byte strings of the given size (any size when n < 0).
func (f *fields) splitStrings(content []byte, n int) ([][]byte, error) {
	var out [][]byte
	for len(content) > 0 {
		s, rest, err := rlp.SplitString(content)
		if err != nil {
			return nil, f.failPrev(fmt.Errorf("element %d: %w", len(out), err))
		}
		if n >= 0 && len(s) != n {
			return nil, f.failPrev(fmt.Errorf("element %d: %d bytes, want %d", len(out), len(s), n))
		}
		out = append(out, s)
		content = rest
	}
	return out, nil
}

// failPrev reports an error inside the item just consumed.
func (f *fields) failPrev(err error) error {
	f.i--
	e := f.fail(err)
	f.i++
	return e
}

// Encoding. The appenders produce canonical RLP, the same bytes go-ethereum's rlp package (and
// the node) produce; they never fail, which keeps Hash and Encode free of error returns.

func appendHeader(b []byte, base byte, n int) []byte {
	if n < 56 {
		return append(b, base+byte(n))
	}
	var tmp [8]byte
	binary.BigEndian.PutUint64(tmp[:], uint64(n))
	skip := bits.LeadingZeros64(uint64(n)) / 8
	b = append(b, base+55+byte(8-skip))
	return append(b, tmp[skip:]...)
}

func appendString(b, s []byte) []byte {
	if len(s) == 1 && s[0] < 0x80 {
		return append(b, s[0])
	}
	return append(appendHeader(b, 0x80, len(s)), s...)
}

func appendList(b, content []byte) []byte {
	return append(appendHeader(b, 0xc0, len(content)), content...)
}

func appendUint(b []byte, x uint64) []byte {
	if x == 0 {
		return append(b, 0x80)
	}
	var tmp [8]byte
	binary.BigEndian.PutUint64(tmp[:], x)
	return appendString(b, tmp[bits.LeadingZeros64(x)/8:])
}

// appendBig encodes a u256; nil is zero. The sign is ignored: Validate reports negative values.
func appendBig(b []byte, x *big.Int) []byte {
	if x == nil || x.Sign() == 0 {
		return append(b, 0x80)
	}
	if x.IsUint64() {
		return appendUint(b, x.Uint64())
	}
	return appendString(b, x.Bytes())
}

// rlpUint returns the RLP encoding of an integer, the key of a Merkle leaf.
func rlpUint(x uint64) []byte { return appendUint(nil, x) }

// checkU256 reports an integer field that cannot be encoded as an RLP u256.
func checkU256(typ, field string, x *big.Int) error {
	if x != nil && (x.Sign() < 0 || x.BitLen() > 256) {
		return &FieldError{Type: typ, Field: field, Err: fmt.Errorf("%s is not a u256", x)}
	}
	return nil
}
