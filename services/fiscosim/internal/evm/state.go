// Package evm executes FISCO BCOS 2.x transactions for real, on go-ethereum v1.9.16's
// core/vm, over an in-memory world state that knows what a FISCO node writes to its storage
// tables (the c_<address> rows of the binlog) when a transaction changes an account.
//
// State is the committed world state. A Block is a journaled overlay on it: transactions of
// one block run against the overlay, a failed transaction is rolled back to its snapshot, and
// once the block is sealed Changes lists the rows the block wrote and Commit folds the overlay
// into the State. Read-only calls run on a throwaway overlay, so they never block or disturb
// the block being built.
//
// FISCO differences from Ethereum that are modelled: contract addresses are
// Hash(rlp([sender, nonce]))[12:] with the chain's hash (SM3 on national-crypto chains, where
// the SHA3 opcode is SM3 too); the sender's account nonce only moves when it deploys; new
// contracts keep nonce 0 (no EIP-158); block.timestamp is in milliseconds; a call to an address
// without code fails with CallAddressError; there is no gas fee.
package evm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
)

// Hasher is the chain's hash function: keccak256, or SM3 on national-crypto chains.
type Hasher func(data ...[]byte) common.Hash

// Account is one account of the committed state.
type Account struct {
	// Nonce is the FISCO account nonce: the number of contracts the account deployed.
	Nonce uint64
	// Balance is the native balance (always zero in practice: FISCO has no gas fee).
	Balance *big.Int
	// Code is the runtime code (empty for external accounts).
	Code []byte
	// CodeHash is Hash(Code).
	CodeHash common.Hash
	// Authority is the deployer of a contract account; nil for external accounts.
	Authority *common.Address
	// Storage holds the contract's storage slots.
	Storage map[common.Hash]common.Hash
}

// State is the committed world state. It is not safe for concurrent mutation: the chain
// commits blocks under its own lock and lets readers in between.
type State struct {
	hash     Hasher
	accounts map[common.Address]*Account
}

// NewState returns an empty state that hashes with hash.
func NewState(hash Hasher) *State {
	return &State{hash: hash, accounts: make(map[common.Address]*Account)}
}

// Account returns the committed account at addr, or nil.
func (s *State) Account(addr common.Address) *Account { return s.accounts[addr] }

// Code returns the committed code at addr.
func (s *State) Code(addr common.Address) []byte {
	if a := s.accounts[addr]; a != nil {
		return a.Code
	}
	return nil
}

// Storage returns a committed storage slot.
func (s *State) Storage(addr common.Address, slot common.Hash) common.Hash {
	if a := s.accounts[addr]; a != nil {
		return a.Storage[slot]
	}
	return common.Hash{}
}

// Addresses returns the addresses of all accounts, sorted.
func (s *State) Addresses() []common.Address {
	out := make([]common.Address, 0, len(s.accounts))
	for a := range s.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}

// RestoreRow applies one row of an account table c_<address>, read back from a binlog, to the
// state: account fields by name, storage slots by decimal key and value. hexCode reads code
// and codeHash in the pre-2.5.0 hex encoding.
func (s *State) RestoreRow(addr common.Address, key string, value []byte, hexCode bool) error {
	a := s.accounts[addr]
	if a == nil {
		a = &Account{Balance: new(big.Int), CodeHash: s.hash(nil), Storage: make(map[common.Hash]common.Hash)}
		s.accounts[addr] = a
	}
	bad := func(err error) error {
		return fmt.Errorf("restore %s row %q = %q: %w", TableName(addr), key, value, err)
	}
	decodeBytes := func() ([]byte, error) {
		if !hexCode {
			return append([]byte(nil), value...), nil
		}
		return hex.DecodeString(string(value))
	}
	switch key {
	case RowAlive, "frozen":
	case RowBalance:
		b, ok := new(big.Int).SetString(string(value), 10)
		if !ok {
			return bad(ErrBadRow)
		}
		a.Balance = b
	case RowNonce:
		n, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return bad(err)
		}
		a.Nonce = n
	case RowCode:
		code, err := decodeBytes()
		if err != nil {
			return bad(err)
		}
		a.Code = code
	case RowCodeHash:
		h, err := decodeBytes()
		if err != nil || len(h) != common.HashLength {
			return bad(ErrBadRow)
		}
		a.CodeHash = common.BytesToHash(h)
	case RowAuthority:
		b, err := hex.DecodeString(string(value))
		if err != nil || len(b) != common.AddressLength {
			return bad(ErrBadRow)
		}
		d := common.BytesToAddress(b)
		a.Authority = &d
	default:
		slot, ok1 := new(big.Int).SetString(key, 10)
		v, ok2 := new(big.Int).SetString(string(value), 10)
		if !ok1 || !ok2 || slot.BitLen() > 256 || v.BitLen() > 256 {
			return bad(ErrBadRow)
		}
		a.Storage[common.BigToHash(slot)] = common.BigToHash(v)
	}
	return nil
}

// ErrBadRow reports an account table row that cannot be read back.
var ErrBadRow = errors.New("malformed account row")
