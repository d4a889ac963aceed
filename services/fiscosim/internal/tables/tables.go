// Package tables models the storage layer of a FISCO BCOS 2.x node (MemoryTableFactory2)
// just closely enough to produce the binlog record the node writes when it commits a block:
// per table the updated ("dirty") and inserted ("new") rows, tables sorted by name, row ids
// handed out in commit order from one counter, and the _sys_current_state_ current_id row that
// records the last id used.
//
// Row order follows the real binlog (../shared/fixtures/binlog/0.binlog): new rows keep the
// order they were put in — callers put contract rows sorted by key, as the node dumps them —
// and dirty rows are listed by descending id.
package tables

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// Names of the system tables the simulator writes.
const (
	SysTables       = "_sys_tables_"
	SysConsensus    = "_sys_consensus_"
	SysConfig       = "_sys_config_"
	SysCurrentState = "_sys_current_state_"
	SysNumber2Hash  = "_sys_number_2_hash_"
	SysTxHash2Block = "_sys_tx_hash_2_block_"
	SysHash2Block   = "_sys_hash_2_block_"
	SysHash2Header  = "_sys_hash_2_header_"
	SysBlock2Nonces = "_sys_block_2_nonces_"
)

// Keys of _sys_current_state_.
const (
	KeyCurrentNumber   = "current_number"
	KeyCurrentID       = "current_id"
	KeyTotalTxCount    = "total_transaction_count"
	KeyTotalFailedTxes = "total_failed_transaction_count"
)

// currentIDRow is the fixed id of the current_id row.
const currentIDRow = 1

// ErrUnknownTable reports a put into a table that was never defined.
var ErrUnknownTable = errors.New("unknown table")

// Def describes a table: its key field and value fields.
type Def struct {
	Name   string
	Key    string
	Values []string
	// Ledger marks insert-only tables (blocks, transactions, the registry, the genesis
	// consensus rows). Their rows are always new and their ids are not remembered, so a long
	// chain does not keep one map entry per transaction. Keys need not be unique.
	Ledger bool
}

// SystemDefs returns the definitions of the system tables (Table.cpp getSysTableInfo).
func SystemDefs() []Def {
	return []Def{
		{Name: SysTables, Key: "table_name", Values: []string{"key_field", "value_field"}, Ledger: true},
		{Name: SysConsensus, Key: "name", Values: []string{"type", "node_id", "enable_num"}, Ledger: true},
		{Name: SysConfig, Key: "key", Values: []string{"value", "enable_num"}},
		{Name: SysCurrentState, Key: "key", Values: []string{"value"}},
		{Name: SysNumber2Hash, Key: "number", Values: []string{"value"}, Ledger: true},
		{Name: SysTxHash2Block, Key: "hash", Values: []string{"value", "index"}, Ledger: true},
		{Name: SysHash2Block, Key: "hash", Values: []string{"value"}, Ledger: true},
		{Name: SysHash2Header, Key: "hash", Values: []string{"value", "sigs"}, Ledger: true},
		{Name: SysBlock2Nonces, Key: "number", Values: []string{"value"}, Ledger: true},
	}
}

// ContractDef returns the definition of an account table c_<address>.
func ContractDef(name string) Def {
	return Def{Name: name, Key: "key", Values: []string{"value"}}
}

type table struct {
	def    Def
	fields []string
	ids    map[string]uint64 // row ids of non-ledger tables
}

// Store holds the row ids of every state row and the id counter.
type Store struct {
	tables map[string]*table
	lastID uint64
}

// New returns a store whose first new row gets id firstID. Nodes on supported_version ≥ 2.2.0
// lift the counter to 100000; the real genesis record starts at 100002.
func New(firstID uint64) *Store {
	s := &Store{tables: make(map[string]*table), lastID: firstID - 1}
	for _, d := range SystemDefs() {
		s.Define(d)
	}
	return s
}

// Define registers a table; defining it again is a no-op.
func (s *Store) Define(d Def) {
	if _, ok := s.tables[d.Name]; ok {
		return
	}
	t := &table{def: d, fields: append(append([]string{d.Key}, d.Values...), binlog.FieldStatus, binlog.FieldNum, binlog.FieldID)}
	if !d.Ledger {
		t.ids = make(map[string]uint64)
	}
	s.tables[d.Name] = t
}

// Has reports whether a row with key exists in a (non-ledger) table.
func (s *Store) Has(name, key string) bool {
	t := s.tables[name]
	if t == nil || t.ids == nil {
		return false
	}
	_, ok := t.ids[key]
	return ok
}

// LastID returns the last row id handed out.
func (s *Store) LastID() uint64 { return s.lastID }

type row struct {
	key    string
	id     uint64
	values [][]byte
}

type pending struct {
	t        *table
	dirty    []row
	fresh    []row
	position map[string]int // key → index in dirty (≥0) or fresh (-1-i)
}

// Batch collects the rows one block writes.
type Batch struct {
	s       *Store
	number  uint64
	pending map[string]*pending
}

// Batch starts collecting the rows of block number.
func (s *Store) Batch(number uint64) *Batch {
	return &Batch{s: s, number: number, pending: make(map[string]*pending)}
}

// Put writes a row: an update (dirty) when the key already exists in the table, an insert
// (new) otherwise; putting the same key twice in one batch keeps the last values. Ledger
// tables always insert. values are in the table's value-field order.
func (b *Batch) Put(name, key string, values ...[]byte) error {
	t := b.s.tables[name]
	if t == nil {
		return fmt.Errorf("put %s row %q: %w", name, key, ErrUnknownTable)
	}
	if len(values) != len(t.def.Values) {
		return fmt.Errorf("put %s row %q: %d values for %d fields", name, key, len(values), len(t.def.Values))
	}
	p := b.pending[name]
	if p == nil {
		p = &pending{t: t, position: make(map[string]int)}
		b.pending[name] = p
	}
	if t.ids == nil {
		p.fresh = append(p.fresh, row{key: key, values: values})
		return nil
	}
	if i, ok := p.position[key]; ok {
		if i >= 0 {
			p.dirty[i].values = values
		} else {
			p.fresh[-1-i].values = values
		}
		return nil
	}
	if id, ok := t.ids[key]; ok {
		p.position[key] = len(p.dirty)
		p.dirty = append(p.dirty, row{key: key, id: id, values: values})
		return nil
	}
	p.position[key] = -1 - len(p.fresh)
	p.fresh = append(p.fresh, row{key: key, values: values})
	return nil
}

// Commit assigns ids to the new rows (tables by name, rows in put order), adds the current_id
// row, remembers the ids and returns the block's binlog record in format.
func (b *Batch) Commit(format binlog.Format) *binlog.Record {
	// current_id is written by every commit, after every other row has its id.
	if b.pending[SysCurrentState] == nil {
		b.pending[SysCurrentState] = &pending{t: b.s.tables[SysCurrentState], position: map[string]int{}}
	}
	names := make([]string, 0, len(b.pending))
	for n := range b.pending {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := b.pending[n]
		for i := range p.fresh {
			b.s.lastID++
			p.fresh[i].id = b.s.lastID
			if p.t.ids != nil {
				p.t.ids[p.fresh[i].key] = b.s.lastID
			}
		}
	}
	cur := b.pending[SysCurrentState]
	idRow := row{key: KeyCurrentID, id: currentIDRow, values: [][]byte{strconv.AppendUint(nil, b.s.lastID, 10)}}
	if _, ok := cur.t.ids[KeyCurrentID]; ok {
		cur.dirty = append(cur.dirty, idRow)
	} else {
		cur.fresh = append(cur.fresh, idRow)
		cur.t.ids[KeyCurrentID] = currentIDRow
	}

	rec := &binlog.Record{BlockNumber: b.number, Format: format, Tables: make([]binlog.Table, 0, len(names))}
	for _, n := range names {
		p := b.pending[n]
		if len(p.dirty) == 0 && len(p.fresh) == 0 {
			continue
		}
		sort.SliceStable(p.dirty, func(i, j int) bool { return p.dirty[i].id > p.dirty[j].id })
		t := binlog.Table{Name: n, Fields: p.t.fields, Dirty: entries(p.dirty), New: entries(p.fresh)}
		rec.Tables = append(rec.Tables, t)
	}
	return rec
}

func entries(rows []row) []binlog.Entry {
	if len(rows) == 0 {
		return nil
	}
	out := make([]binlog.Entry, len(rows))
	for i, r := range rows {
		vals := make([]binlog.Value, 0, 1+len(r.values))
		vals = append(vals, binlog.Value{Data: []byte(r.key), Set: true})
		for _, v := range r.values {
			vals = append(vals, binlog.Value{Data: v, Set: true})
		}
		out[i] = binlog.NewEntry(r.id, binlog.StatusNormal, vals)
	}
	return out
}

// Replay learns the row ids and the id counter from a record written earlier, so that a node
// restarted on its binlog continues the same ids. Rows of tables it does not know are skipped;
// account tables (c_…) are defined on the way.
func (s *Store) Replay(rec *binlog.Record) error {
	for i := range rec.Tables {
		tb := &rec.Tables[i]
		if strings.HasPrefix(tb.Name, "c_") {
			s.Define(ContractDef(tb.Name))
		}
		t := s.tables[tb.Name]
		if t == nil || t.ids == nil {
			continue
		}
		for _, list := range [][]binlog.Entry{tb.Dirty, tb.New} {
			for j := range list {
				key := string(tb.Key(&list[j]))
				t.ids[key] = list[j].ID
				if tb.Name == SysCurrentState && key == KeyCurrentID {
					v, _ := tb.Value(&list[j], "value")
					n, err := strconv.ParseUint(string(v), 10, 64)
					if err != nil {
						return fmt.Errorf("replay block %d: current_id %q: %w", rec.BlockNumber, v, err)
					}
					s.lastID = n
				}
			}
		}
	}
	return nil
}
