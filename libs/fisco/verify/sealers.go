package verify

import (
	"slices"
	"strconv"
	"strings"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// Node types of _sys_consensus_ rows that make a node a sealer: PBFT's "sealer" and rPBFT's
// working sealer "wSealer" (BlockChainImp::sealerList is the union of both).
const (
	typeSealer        = "sealer"
	typeWorkingSealer = "wSealer"
)

// consensusRow is the state of one _sys_consensus_ row (all rows share the key "node"; the
// row id tells them apart).
type consensusRow struct {
	id      uint64
	typ     string
	nodeID  string // 128 lowercase hex digits
	enable  uint64
	enabled bool // enable_num parsed
	deleted bool
}

// consensusRows extracts the _sys_consensus_ rows a record writes, updates first. A dirty
// entry in the flagged format may omit fields; the caller merges it over the row's previous
// state.
func consensusRows(rec *binlog.Record) []partialRow {
	tb := rec.Table("_sys_consensus_")
	if tb == nil {
		return nil
	}
	var out []partialRow
	for _, list := range [][]binlog.Entry{tb.Dirty, tb.New} {
		for i := range list {
			e := &list[i]
			p := partialRow{id: e.ID, deleted: e.Deleted()}
			if v, ok := tb.Value(e, "type"); ok {
				p.typ, p.hasType = string(v), true
			}
			if v, ok := tb.Value(e, "node_id"); ok {
				p.nodeID, p.hasNode = strings.ToLower(strings.TrimPrefix(string(v), "0x")), true
			}
			if v, ok := tb.Value(e, "enable_num"); ok {
				p.enable, p.hasEnable = string(v), true
			}
			out = append(out, p)
		}
	}
	return out
}

// partialRow is a _sys_consensus_ entry as written, with presence per field.
type partialRow struct {
	id                          uint64
	deleted                     bool
	typ, nodeID, enable         string
	hasType, hasNode, hasEnable bool
}

// sealerState replays _sys_consensus_ from the binlog.
type sealerState struct {
	rows  map[uint64]consensusRow
	known bool // genesis seen or set from Config.Sealers
}

func (s *sealerState) apply(rows []partialRow) {
	if s.rows == nil {
		s.rows = make(map[uint64]consensusRow)
	}
	for _, p := range rows {
		r := s.rows[p.id]
		r.id, r.deleted = p.id, p.deleted
		if p.hasType {
			r.typ = p.typ
		}
		if p.hasNode {
			r.nodeID = p.nodeID
		}
		if p.hasEnable {
			n, err := strconv.ParseUint(strings.TrimSpace(p.enable), 10, 64)
			r.enable, r.enabled = n, err == nil
		}
		s.rows[p.id] = r
	}
}

// sealersFor returns the sealer node ids for block n, as the node computes them when it
// checks block n: rows of type sealer or wSealer, not deleted, enabled at the parent's height
// (enable_num ≤ n-1; the node writes enable_num = the height at which a change was made, so it
// takes effect from the next block). Working sealers come first, each group in row-id order,
// as the node's table select returns them.
func (s *sealerState) sealersFor(n uint64) []string {
	parent := uint64(0)
	if n > 0 {
		parent = n - 1
	}
	var rows []consensusRow
	for _, r := range s.rows {
		if !r.deleted && r.enabled && r.enable <= parent && (r.typ == typeSealer || r.typ == typeWorkingSealer) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b consensusRow) int {
		if (a.typ == typeWorkingSealer) != (b.typ == typeWorkingSealer) {
			if a.typ == typeWorkingSealer {
				return -1
			}
			return 1
		}
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.nodeID
	}
	return out
}

// setSealers seeds the state with a known sealer set (Config.Sealers), enabled from block 0.
func (s *sealerState) setSealers(keys []cryptosuite.PublicKey) {
	s.rows = make(map[uint64]consensusRow, len(keys))
	for i, k := range keys {
		// Ids below ENTRY_ID_START cannot collide with rows replayed later.
		s.rows[uint64(i)] = consensusRow{id: uint64(i), typ: typeSealer, nodeID: k.String(), enabled: true}
	}
	s.known = true
}

// sameSet reports whether two node-id lists hold the same ids, ignoring order: the order the
// node uses is its storage's select order, which the binlog does not pin down.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
