package verify

import (
	"cmp"
	"fmt"
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

// ConsensusRow is a _sys_consensus_ row as stored: a node and its role. All rows share the key
// "node"; the row id tells them apart.
type ConsensusRow struct {
	ID uint64
	// Status is the row's status: 0 live, anything else deleted.
	Status uint8
	// Type is "sealer", "wSealer" (rPBFT working sealer) or "observer".
	Type string
	// NodeID is the node's 64-byte public key as hex (with or without 0x).
	NodeID string
	// EnableNum is the enable_num field as written (decimal).
	EnableNum string
}

// inForce is the node's sealer rule for block n: a row of type sealer or wSealer, not deleted,
// enabled at the parent's height (enable_num ≤ n-1; the node writes enable_num = the height at
// which a change was made, so it takes effect from the next block).
func inForce(r *ConsensusRow, n uint64) bool {
	parent := uint64(0)
	if n > 0 {
		parent = n - 1
	}
	if r.Status != 0 || (r.Type != typeSealer && r.Type != typeWorkingSealer) {
		return false
	}
	en, err := strconv.ParseUint(strings.TrimSpace(r.EnableNum), 10, 64)
	return err == nil && en <= parent
}

// sealerOrder is the order the node's table select returns sealers in: working sealers
// first, each group in row-id order.
func sealerOrder(a, b ConsensusRow) int {
	if aw, bw := a.Type == typeWorkingSealer, b.Type == typeWorkingSealer; aw != bw {
		if aw {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.ID, b.ID)
}

// normalNodeID is a node id as lowercase hex without 0x.
func normalNodeID(id string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(id, "0x"), "0X"))
}

// SealersFor returns the sealers in force for block n given the _sys_consensus_ rows stored
// up to block n-1, with the node's rule (the one the Verifier applies when it replays the
// binlog): rows of type sealer or wSealer, not deleted, whose enable_num is at most n-1.
func SealersFor(rows []ConsensusRow, n uint64) ([]cryptosuite.PublicKey, error) {
	var in []ConsensusRow
	for i := range rows {
		if inForce(&rows[i], n) {
			in = append(in, rows[i])
		}
	}
	slices.SortFunc(in, sealerOrder)
	out := []cryptosuite.PublicKey{}
	for _, r := range in {
		pk, err := cryptosuite.ParsePublicKey(normalNodeID(r.NodeID))
		if err != nil {
			return nil, fmt.Errorf("_sys_consensus_ row %d node_id: %w", r.ID, err)
		}
		out = append(out, pk)
	}
	return out, nil
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
				p.nodeID, p.hasNode = string(v), true
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
	rows  map[uint64]ConsensusRow
	known bool // genesis seen or set from WithSealers
}

func (s *sealerState) apply(rows []partialRow) {
	if s.rows == nil {
		s.rows = make(map[uint64]ConsensusRow)
	}
	for _, p := range rows {
		r := s.rows[p.id]
		r.ID, r.Status = p.id, 0
		if p.deleted {
			r.Status = 1
		}
		if p.hasType {
			r.Type = p.typ
		}
		if p.hasNode {
			r.NodeID = p.nodeID
		}
		if p.hasEnable {
			r.EnableNum = p.enable
		}
		s.rows[p.id] = r
	}
}

// sealersFor returns the sealer node ids (lowercase hex) for block n (see inForce and
// sealerOrder).
func (s *sealerState) sealersFor(n uint64) []string {
	var rows []ConsensusRow
	for _, r := range s.rows {
		if inForce(&r, n) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, sealerOrder)
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = normalNodeID(r.NodeID)
	}
	return out
}

// setSealers seeds the state with a known sealer set (WithSealers), enabled from block 0.
func (s *sealerState) setSealers(keys []cryptosuite.PublicKey) {
	s.rows = make(map[uint64]ConsensusRow, len(keys))
	for i, k := range keys {
		// Ids below ENTRY_ID_START cannot collide with rows replayed later.
		s.rows[uint64(i)] = ConsensusRow{ID: uint64(i), Type: typeSealer, NodeID: k.String(), EnableNum: "0"}
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
