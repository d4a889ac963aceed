package evm

import (
	"math/big"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
)

// Account fields FISCO stores as rows of a c_<address> table.
const (
	RowAlive     = "alive"
	RowAuthority = "authority"
	RowBalance   = "balance"
	RowCode      = "code"
	RowCodeHash  = "codeHash"
	RowNonce     = "nonce"
)

// acct is the overlay copy of one account's scalar fields.
type acct struct {
	exists    bool
	created   bool // created in this overlay: all its rows are written as new
	suicided  bool
	nonce     uint64
	balance   *big.Int
	code      []byte
	codeHash  common.Hash
	authority *common.Address
	dirty     map[string]bool // account rows written in this overlay
}

func (a *acct) clone() *acct {
	c := *a
	c.balance = new(big.Int).Set(a.balance)
	c.dirty = make(map[string]bool, len(a.dirty))
	for k, v := range a.dirty {
		c.dirty[k] = v
	}
	return &c
}

// overlay is a journaled set of changes on top of a State. It implements vm.StateDB.
type overlay struct {
	base    *State
	accts   map[common.Address]*acct
	slots   map[common.Address]map[common.Hash]common.Hash // written slots
	journal []func()
	logs    []*types.Log
	refund  uint64
}

var _ vm.StateDB = (*overlay)(nil)

func newOverlay(base *State) *overlay {
	return &overlay{
		base:  base,
		accts: make(map[common.Address]*acct),
		slots: make(map[common.Address]map[common.Hash]common.Hash),
	}
}

// get returns the account view (overlay or base), nil when it does not exist anywhere.
func (o *overlay) get(addr common.Address) *acct {
	if a, ok := o.accts[addr]; ok {
		return a
	}
	b := o.base.accounts[addr]
	if b == nil {
		return nil
	}
	return &acct{exists: true, nonce: b.Nonce, balance: b.Balance, code: b.Code, codeHash: b.CodeHash, authority: b.Authority}
}

// mutable returns an overlay copy of addr to modify, journaling its previous state. A missing
// account is created as an external account when create is true, else nil is returned.
func (o *overlay) mutable(addr common.Address, create bool) *acct {
	prev, inOverlay := o.accts[addr]
	cur := o.get(addr)
	if cur == nil {
		if !create {
			return nil
		}
		cur = &acct{balance: new(big.Int), codeHash: o.base.hash(nil)}
	}
	var next *acct
	if inOverlay {
		next = prev.clone()
	} else {
		next = cur.clone()
	}
	if !next.exists {
		next.exists, next.created = true, true
	}
	o.accts[addr] = next
	o.journal = append(o.journal, func() {
		if inOverlay {
			o.accts[addr] = prev
		} else {
			delete(o.accts, addr)
		}
	})
	return next
}

// CreateAccount implements vm.StateDB.
func (o *overlay) CreateAccount(addr common.Address) {
	a := o.mutable(addr, true)
	a.created = true
	a.nonce, a.code, a.codeHash = 0, nil, o.base.hash(nil)
}

// SubBalance implements vm.StateDB. Zero amounts do not touch the account: FISCO writes no row.
func (o *overlay) SubBalance(addr common.Address, amount *big.Int) {
	if amount.Sign() == 0 {
		return
	}
	a := o.mutable(addr, true)
	a.balance.Sub(a.balance, amount)
	a.dirty[RowBalance] = true
}

// AddBalance implements vm.StateDB.
func (o *overlay) AddBalance(addr common.Address, amount *big.Int) {
	if amount.Sign() == 0 {
		return
	}
	a := o.mutable(addr, true)
	a.balance.Add(a.balance, amount)
	a.dirty[RowBalance] = true
}

// GetBalance implements vm.StateDB.
func (o *overlay) GetBalance(addr common.Address) *big.Int {
	if a := o.get(addr); a != nil {
		return new(big.Int).Set(a.balance)
	}
	return new(big.Int)
}

// GetNonce implements vm.StateDB.
func (o *overlay) GetNonce(addr common.Address) uint64 {
	if a := o.get(addr); a != nil {
		return a.nonce
	}
	return 0
}

// SetNonce implements vm.StateDB. Setting the nonce of a missing account creates it, as the
// node does when an account deploys its first contract.
func (o *overlay) SetNonce(addr common.Address, nonce uint64) {
	a := o.mutable(addr, true)
	a.nonce = nonce
	a.dirty[RowNonce] = true
}

// GetCodeHash implements vm.StateDB.
func (o *overlay) GetCodeHash(addr common.Address) common.Hash {
	if a := o.get(addr); a != nil {
		return a.codeHash
	}
	return common.Hash{}
}

// GetCode implements vm.StateDB.
func (o *overlay) GetCode(addr common.Address) []byte {
	if a := o.get(addr); a != nil {
		return a.code
	}
	return nil
}

// SetCode implements vm.StateDB.
func (o *overlay) SetCode(addr common.Address, code []byte) {
	a := o.mutable(addr, true)
	a.code, a.codeHash = code, o.base.hash(code)
	a.dirty[RowCode], a.dirty[RowCodeHash] = true, true
}

// GetCodeSize implements vm.StateDB.
func (o *overlay) GetCodeSize(addr common.Address) int { return len(o.GetCode(addr)) }

// setAuthority records the deployer of a new contract.
func (o *overlay) setAuthority(addr, deployer common.Address) {
	a := o.mutable(addr, true)
	d := deployer
	a.authority = &d
	a.dirty[RowAuthority] = true
}

// AddRefund implements vm.StateDB.
func (o *overlay) AddRefund(gas uint64) {
	prev := o.refund
	o.journal = append(o.journal, func() { o.refund = prev })
	o.refund += gas
}

// SubRefund implements vm.StateDB.
func (o *overlay) SubRefund(gas uint64) {
	prev := o.refund
	o.journal = append(o.journal, func() { o.refund = prev })
	if gas > o.refund {
		o.refund = 0
		return
	}
	o.refund -= gas
}

// GetRefund implements vm.StateDB.
func (o *overlay) GetRefund() uint64 { return o.refund }

// GetCommittedState implements vm.StateDB: the value before this overlay.
func (o *overlay) GetCommittedState(addr common.Address, slot common.Hash) common.Hash {
	return o.base.Storage(addr, slot)
}

// GetState implements vm.StateDB.
func (o *overlay) GetState(addr common.Address, slot common.Hash) common.Hash {
	if s, ok := o.slots[addr]; ok {
		if v, ok := s[slot]; ok {
			return v
		}
	}
	if a, ok := o.accts[addr]; ok && a.created {
		// A contract created in this overlay starts with empty storage even if the base
		// had an account there.
		return common.Hash{}
	}
	return o.base.Storage(addr, slot)
}

// SetState implements vm.StateDB. Every SSTORE is recorded, even one that rewrites the
// current value, because the node writes the row whenever the contract stores.
func (o *overlay) SetState(addr common.Address, slot, value common.Hash) {
	s, ok := o.slots[addr]
	if !ok {
		s = make(map[common.Hash]common.Hash)
		o.slots[addr] = s
	}
	prev, had := s[slot]
	s[slot] = value
	o.journal = append(o.journal, func() {
		if had {
			s[slot] = prev
		} else {
			delete(s, slot)
		}
	})
}

// Suicide implements vm.StateDB. The sample contracts never self-destruct; the account is
// only marked so that HasSuicided answers truthfully.
func (o *overlay) Suicide(addr common.Address) bool {
	a := o.mutable(addr, false)
	if a == nil {
		return false
	}
	a.suicided = true
	return true
}

// HasSuicided implements vm.StateDB.
func (o *overlay) HasSuicided(addr common.Address) bool {
	a := o.get(addr)
	return a != nil && a.suicided
}

// Exist implements vm.StateDB.
func (o *overlay) Exist(addr common.Address) bool { return o.get(addr) != nil }

// Empty implements vm.StateDB.
func (o *overlay) Empty(addr common.Address) bool {
	a := o.get(addr)
	return a == nil || (a.nonce == 0 && a.balance.Sign() == 0 && len(a.code) == 0)
}

// Snapshot implements vm.StateDB.
func (o *overlay) Snapshot() int { return len(o.journal) }

// RevertToSnapshot implements vm.StateDB.
func (o *overlay) RevertToSnapshot(id int) {
	for i := len(o.journal) - 1; i >= id; i-- {
		o.journal[i]()
	}
	o.journal = o.journal[:id]
}

// AddLog implements vm.StateDB.
func (o *overlay) AddLog(l *types.Log) {
	o.logs = append(o.logs, l)
	n := len(o.logs) - 1
	o.journal = append(o.journal, func() { o.logs = o.logs[:n] })
}

// AddPreimage implements vm.StateDB; preimages are not kept.
func (o *overlay) AddPreimage(common.Hash, []byte) {}

// ForEachStorage implements vm.StateDB over the committed and overlay slots.
func (o *overlay) ForEachStorage(addr common.Address, cb func(key, value common.Hash) bool) error {
	seen := map[common.Hash]bool{}
	for k, v := range o.slots[addr] {
		seen[k] = true
		if !cb(k, v) {
			return nil
		}
	}
	if b := o.base.accounts[addr]; b != nil {
		for k, v := range b.Storage {
			if !seen[k] && !cb(k, v) {
				return nil
			}
		}
	}
	return nil
}

// Row is one key/value row of a c_<address> table.
type Row struct {
	Key   string
	Value []byte
}

// AccountChange is what one block wrote to one account's table.
type AccountChange struct {
	// Address is the account; its table is "c_" + lowercase hex address without 0x.
	Address common.Address
	// Created reports that the table is new in this block (all rows are new rows).
	Created bool
	// Rows are the written rows sorted by key, as the node dumps them.
	Rows []Row
}

// Table returns the storage table name of the account.
func (c AccountChange) Table() string { return TableName(c.Address) }

// TableName returns the FISCO table name of an account: c_<40 lowercase hex digits>.
func TableName(addr common.Address) string {
	return "c_" + strings.TrimPrefix(strings.ToLower(addr.Hex()), "0x")
}

// changes lists the rows the overlay wrote, accounts sorted by address. hexCode selects the
// pre-2.5.0 encoding of code and codeHash (lowercase hex instead of raw bytes).
func (o *overlay) changes(hexCode bool) []AccountChange {
	addrs := make(map[common.Address]bool)
	for a := range o.accts {
		addrs[a] = true
	}
	for a, s := range o.slots {
		if len(s) > 0 {
			addrs[a] = true
		}
	}
	sorted := make([]common.Address, 0, len(addrs))
	for a := range addrs {
		sorted = append(sorted, a)
	}
	sort.Slice(sorted, func(i, j int) bool { return string(sorted[i][:]) < string(sorted[j][:]) })

	out := make([]AccountChange, 0, len(sorted))
	for _, addr := range sorted {
		a := o.get(addr)
		if a == nil {
			continue
		}
		ch := AccountChange{Address: addr, Created: a.created}
		field := func(name string) []byte {
			switch name {
			case RowAlive:
				return []byte("true")
			case RowAuthority:
				return []byte(strings.TrimPrefix(strings.ToLower(a.authority.Hex()), "0x"))
			case RowBalance:
				return []byte(a.balance.String())
			case RowCode:
				if hexCode {
					return []byte(common.Bytes2Hex(a.code))
				}
				return a.code
			case RowCodeHash:
				if hexCode {
					return []byte(common.Bytes2Hex(a.codeHash[:]))
				}
				return append([]byte(nil), a.codeHash[:]...)
			case RowNonce:
				return new(big.Int).SetUint64(a.nonce).Append(nil, 10)
			}
			return nil
		}
		if a.created {
			for _, name := range []string{RowAlive, RowAuthority, RowBalance, RowCode, RowCodeHash, RowNonce} {
				if name == RowAuthority && a.authority == nil {
					continue
				}
				ch.Rows = append(ch.Rows, Row{Key: name, Value: field(name)})
			}
		} else {
			for name := range a.dirty {
				ch.Rows = append(ch.Rows, Row{Key: name, Value: field(name)})
			}
		}
		for slot, v := range o.slots[addr] {
			ch.Rows = append(ch.Rows, Row{
				Key:   new(big.Int).SetBytes(slot[:]).String(),
				Value: []byte(new(big.Int).SetBytes(v[:]).String()),
			})
		}
		sort.Slice(ch.Rows, func(i, j int) bool { return ch.Rows[i].Key < ch.Rows[j].Key })
		if len(ch.Rows) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

// commit folds the overlay into its base state.
func (o *overlay) commit() {
	for addr, a := range o.accts {
		b := o.base.accounts[addr]
		if b == nil || a.created {
			b = &Account{Storage: make(map[common.Hash]common.Hash)}
			o.base.accounts[addr] = b
		}
		b.Nonce, b.Balance, b.Code, b.CodeHash, b.Authority = a.nonce, a.balance, a.code, a.codeHash, a.authority
	}
	for addr, s := range o.slots {
		b := o.base.accounts[addr]
		if b == nil {
			// Storage written to an address without an account (not reachable from the EVM,
			// which only stores into the executing contract); keep it anyway.
			b = &Account{Balance: new(big.Int), CodeHash: o.base.hash(nil), Storage: make(map[common.Hash]common.Hash)}
			o.base.accounts[addr] = b
		}
		for k, v := range s {
			b.Storage[k] = v
		}
	}
	o.accts = make(map[common.Address]*acct)
	o.slots = make(map[common.Address]map[common.Hash]common.Hash)
	o.journal = nil
	o.logs = nil
	o.refund = 0
}
