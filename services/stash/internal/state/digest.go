package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
)

// Tables whose contents differ between honest nodes for the same block, and how the digest
// treats them (the exceptions Data-Stash makes when it compares nodes, done properly):
//   - _sys_hash_2_block_.value holds the block RLP with the node's own subset of sealer
//     signatures: left out (the row's key, the block hash, commits to everything else);
//   - _sys_hash_2_header_.sigs is that subset again: left out;
//   - _sys_tx_hash_2_block_ rows get their _id_ from parallel threads, so the same transaction
//     can have different ids on different nodes: ids are written as 0 and rows ordered by key.
const (
	TableHash2Block   = "_sys_hash_2_block_"
	TableHash2Header  = "_sys_hash_2_header_"
	TableTxHash2Block = "_sys_tx_hash_2_block_"
)

// CheckpointDomain prefixes every checkpoint hash input, so a checkpoint cannot be mistaken for
// a digest or for a hash of some other format.
const CheckpointDomain = "bcosdata.stash.checkpoint.v1"

// Digest is a SHA-256 hash.
type Digest [32]byte

// excluded reports whether a field is left out of the encoding.
func excluded(table, field string) bool {
	return (table == TableHash2Block && field == "value") || (table == TableHash2Header && field == "sigs")
}

// AppendEncoding appends the canonical encoding of a block's change-set (format v1):
//
//	u64 number ‖ 32-byte block hash ‖ u8 hasState
//	if hasState: u32 tableCount ‖ table…   (tables by name, byte order)
//	table = lp(name) ‖ u32 fieldCount ‖ lp(field)… ‖ u32 rowCount ‖ row…
//	        fields: the key field and the value fields, minus the excluded ones, by name
//	        rows: by _id_; for _sys_tx_hash_2_block_ by key, with _id_ written as 0
//	row   = u64 _id_ ‖ u8 _status_ ‖ per field (same order): 0x00 if absent, 0x01 ‖ lp(value)
//	lp(x) = u32 len(x) ‖ x;  all integers big-endian
//
// Whether a row was inserted or updated is not encoded: a stash that kept only row versions
// (as Data-Stash's MySQL tables do) can still compute it.
func AppendEncoding(dst []byte, number uint64, blockHash [32]byte, hasState bool, tables []Table) []byte {
	return appendEncoding(dst, number, blockHash, hasState, tables, nil)
}

// appendEncoding is AppendEncoding, calling spill (when set) after every row: spill may take
// the bytes so far (hashing them, say) and return the buffer to go on with.
func appendEncoding(dst []byte, number uint64, blockHash [32]byte, hasState bool, tables []Table, spill func([]byte) []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, number)
	dst = append(dst, blockHash[:]...)
	if !hasState {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	order := make([]int, len(tables))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(tables[a].Name, tables[b].Name) })
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(tables)))
	for _, i := range order {
		dst = appendTable(dst, &tables[i], spill)
	}
	return dst
}

// column is one encoded field: its name and where a row keeps its value (-1 = the key).
type column struct {
	name string
	pos  int
}

func appendTable(dst []byte, t *Table, spill func([]byte) []byte) []byte {
	cols := make([]column, 0, len(t.Fields)+1)
	if t.KeyField != "" && !excluded(t.Name, t.KeyField) {
		cols = append(cols, column{t.KeyField, -1})
	}
	for i, f := range t.Fields {
		if !excluded(t.Name, f) {
			cols = append(cols, column{f, i})
		}
	}
	slices.SortStableFunc(cols, func(a, b column) int { return strings.Compare(a.name, b.name) })
	dst = appendLP(dst, []byte(t.Name))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(cols)))
	for _, c := range cols {
		dst = appendLP(dst, []byte(c.name))
	}
	byKey := t.Name == TableTxHash2Block
	rows := make([]*Row, len(t.Rows))
	for i := range t.Rows {
		rows[i] = &t.Rows[i]
	}
	slices.SortStableFunc(rows, func(a, b *Row) int {
		if byKey {
			return bytes.Compare(a.Key.Data, b.Key.Data)
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rows)))
	for _, r := range rows {
		id := r.ID
		if byKey {
			id = 0
		}
		dst = binary.BigEndian.AppendUint64(dst, id)
		dst = append(dst, r.Status)
		for _, c := range cols {
			v := r.Key
			if c.pos >= 0 {
				v = Value{}
				if c.pos < len(r.Values) {
					v = r.Values[c.pos]
				}
			}
			if !v.Set {
				dst = append(dst, 0)
				continue
			}
			dst = append(dst, 1)
			dst = appendLP(dst, v.Data)
		}
		if spill != nil {
			dst = spill(dst)
		}
	}
	return dst
}

func appendLP(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// BlockDigest returns SHA-256 of the canonical encoding of a block's change-set. The encoding
// is hashed as it is produced, through a small buffer, rather than built whole first.
func BlockDigest(number uint64, blockHash [32]byte, hasState bool, tables []Table) Digest {
	const chunk = 32 << 10
	h := sha256.New()
	spill := func(b []byte) []byte {
		if len(b) < chunk {
			return b
		}
		h.Write(b)
		return b[:0]
	}
	buf := appendEncoding(make([]byte, 0, 2*chunk), number, blockHash, hasState, tables, spill)
	h.Write(buf)
	var out Digest
	h.Sum(out[:0])
	return out
}

// TableDigests returns the SHA-256 of each table's encoding, by table name; a source
// disagreement report names the tables whose digests differ.
func TableDigests(tables []Table) map[string]Digest {
	out := make(map[string]Digest, len(tables))
	for i := range tables {
		out[tables[i].Name] = sha256.Sum256(appendTable(nil, &tables[i], nil))
	}
	return out
}

// NextCheckpoint chains a block's digest onto the previous checkpoint:
// SHA-256(CheckpointDomain ‖ prev ‖ digest). The first block a stash ingests chains onto 32 zero
// bytes.
func NextCheckpoint(prev, digest Digest) Digest {
	h := sha256.New()
	h.Write([]byte(CheckpointDomain))
	h.Write(prev[:])
	h.Write(digest[:])
	var out Digest
	h.Sum(out[:0])
	return out
}
