package rpcjson

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// The node's value encoding (libdevcore/CommonJS.h toJS): integers as minimal lowercase hex,
// hashes and addresses full width lowercase, bytes 0x-prefixed ("0x" when empty).

// Uint formats a quantity: "0x" and minimal lowercase hex.
func Uint(n uint64) string { return "0x" + strconv.FormatUint(n, 16) }

// Big formats a 256-bit quantity; nil is "0x0".
func Big(n *big.Int) string {
	if n == nil {
		return "0x0"
	}
	return "0x" + n.Text(16)
}

// Bytes formats bytes as "0x" and lowercase hex.
func Bytes(b []byte) string { return "0x" + hex.EncodeToString(b) }

// Hash formats a hash in lowercase (go-ethereum's Hex is lowercase too; this says so).
func Hash(h common.Hash) string { return "0x" + hex.EncodeToString(h[:]) }

// Address formats an address in lowercase, as the node does (go-ethereum's Hex would give the
// EIP-55 mixed-case checksum form, which FISCO does not use).
func Address(a common.Address) string { return "0x" + hex.EncodeToString(a[:]) }

// ParseBytes reads hex with or without 0x; an odd number of digits gets a leading zero.
func ParseBytes(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return hex.DecodeString(s)
}

// ParseHash reads a 32-byte hex value.
func ParseHash(s string) (common.Hash, error) {
	b, err := ParseBytes(s)
	if err != nil {
		return common.Hash{}, err
	}
	if len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("%q: %d bytes, want 32", s, len(b))
	}
	return common.BytesToHash(b), nil
}

// ParseAddress reads a 20-byte hex value.
func ParseAddress(s string) (common.Address, error) {
	b, err := ParseBytes(s)
	if err != nil {
		return common.Address{}, err
	}
	if len(b) != common.AddressLength {
		return common.Address{}, fmt.Errorf("%q: %d bytes, want 20", s, len(b))
	}
	return common.BytesToAddress(b), nil
}

// ParseBig reads a quantity: 0x-hex, or decimal; "" and "0x" are zero.
func ParseBig(s string) (*big.Int, error) {
	x := new(big.Int)
	switch {
	case s == "":
		return x, nil
	case strings.HasPrefix(s, "0x"), strings.HasPrefix(s, "0X"):
		if len(s) == 2 {
			return x, nil
		}
		if _, ok := x.SetString(s[2:], 16); !ok {
			return nil, fmt.Errorf("quantity %q", s)
		}
	default:
		if _, ok := x.SetString(s, 10); !ok {
			return nil, fmt.Errorf("quantity %q", s)
		}
	}
	if x.Sign() < 0 {
		return nil, fmt.Errorf("quantity %q is negative", s)
	}
	return x, nil
}

// ParseUint reads a quantity that fits 64 bits.
func ParseUint(s string) (uint64, error) {
	x, err := ParseBig(s)
	if err != nil {
		return 0, err
	}
	if !x.IsUint64() {
		return 0, fmt.Errorf("quantity %q out of range", s)
	}
	return x.Uint64(), nil
}
