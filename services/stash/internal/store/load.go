package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/services/stash/internal/state"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Tip returns where the stored chain ends, for verify.NewChain: the last block's hash,
// timestamp and checkpoint, and the _sys_consensus_ state after it. With nothing stored it
// returns a tip at from.
func (s *Store) Tip(ctx context.Context, from uint64) (verify.Tip, error) {
	p, err := s.Progress(ctx)
	if err != nil {
		return verify.Tip{}, err
	}
	if !p.HasVerified {
		return verify.Tip{Next: from}, nil
	}
	return s.TipAfter(ctx, p.LastVerified)
}

// TipAfter returns the chain tip just after stored block n: what block n+1 is checked against.
func (s *Store) TipAfter(ctx context.Context, n uint64) (verify.Tip, error) {
	p, err := s.Progress(ctx)
	if err != nil {
		return verify.Tip{}, err
	}
	tip := verify.Tip{Next: n + 1, Known: true}
	var hash, cp []byte
	var ts int64
	var hasState bool
	if err := s.pool.QueryRow(ctx, `SELECT hash, timestamp_ms, has_state, checkpoint FROM stash.stash_blocks WHERE number = $1`, int64(n)).Scan(&hash, &ts, &hasState, &cp); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return verify.Tip{}, fmt.Errorf("block %d: %w", n, ErrNotFound)
		}
		return verify.Tip{}, fmt.Errorf("read block %d for the chain tip: %w", n, err)
	}
	tip.Hash, tip.Timestamp = common.BytesToHash(hash), uint64(ts)
	copy(tip.Checkpoint[:], cp)
	// The sealer set is only known to a stash that replayed _sys_consensus_ from the genesis.
	if p.FirstBlock != 0 || !hasState {
		return tip, nil
	}
	var rows []verify.ConsensusRow
	if t := s.table("_sys_consensus_"); t != nil {
		err := s.snapshotTable(ctx, s.pool, t, n, false, 0, func(t *tableInfo, page []state.Row, _ []uint64) error {
			st := state.Table{Name: t.Name, KeyField: t.KeyField, Fields: t.Fields}
			for i := range page {
				r := &page[i]
				typ, _ := st.Field(r, "type")
				node, _ := st.Field(r, "node_id")
				enable, _ := st.Field(r, "enable_num")
				rows = append(rows, verify.ConsensusRow{ID: r.ID, Status: r.Status, Type: string(typ.Data), NodeID: string(node.Data), EnableNum: string(enable.Data)})
			}
			return nil
		})
		if err != nil {
			return verify.Tip{}, err
		}
	}
	if tip.Sealers, err = verify.SealersFor(rows, n+1); err != nil {
		return verify.Tip{}, fmt.Errorf("sealers after block %d: %w", n, err)
	}
	tip.SealersKnown = true
	return tip, nil
}

func selectList(t *tableInfo) string {
	return identList(append([]string{colID, colNum, colStatus, colKind, t.KeyColumn}, t.Columns...), "")
}

// scanRows scans rows selected with selectList.
func scanRows(rows pgx.Rows, t *tableInfo, fn func(r state.Row, num uint64) error) error {
	defer rows.Close()
	vals := make([][]byte, len(t.Columns))
	dest := make([]any, 5+len(t.Columns))
	var id, num int64
	var status, kind int16
	var key []byte
	dest[0], dest[1], dest[2], dest[3], dest[4] = &id, &num, &status, &kind, &key
	for i := range vals {
		dest[5+i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		r := state.Row{ID: uint64(id), Status: uint8(status), Kind: state.Kind(kind), Key: value(key), Values: make([]state.Value, len(vals))}
		for i, v := range vals {
			r.Values[i] = value(v)
		}
		if err := fn(r, uint64(num)); err != nil {
			return err
		}
	}
	return rows.Err()
}

func value(b []byte) state.Value {
	if b == nil {
		return state.Value{}
	}
	return state.Value{Data: append([]byte{}, b...), Set: true}
}

// NumberByHash returns the number of the stored block with the given hash.
func (s *Store) NumberByHash(ctx context.Context, hash common.Hash) (uint64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT number FROM stash.stash_blocks WHERE hash = $1`, hash[:]).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("block %s: %w", hash.Hex(), ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up block %s: %w", hash.Hex(), err)
	}
	return uint64(n), nil
}

// Load rebuilds stored block n as the verifier produced it: the decoded block, its senders, its
// change-set in canonical order and the verification record. Transaction and receipt hashes
// are recomputed by the caller (verify.Rehash); nothing is re-verified.
func (s *Store) Load(ctx context.Context, n uint64) (*verify.Block, error) {
	return s.load(ctx, s.pool, n)
}

func (s *Store) load(ctx context.Context, q querier, n uint64) (*verify.Block, error) {
	var (
		hash, parent, senders, raw, digest, checkpoint []byte
		ts                                             int64
		txCount, validSigs, sealers                    int32
		hasState                                       bool
		tables, checks                                 []string
		source                                         string
		rule                                           int16
	)
	err := q.QueryRow(ctx, `SELECT hash, parent_hash, timestamp_ms, tx_count, senders, raw, has_state, tables, source,
		root_rule, valid_signatures, sealer_count, checks, digest, checkpoint FROM stash.stash_blocks WHERE number = $1`, int64(n)).
		Scan(&hash, &parent, &ts, &txCount, &senders, &raw, &hasState, &tables, &source, &rule, &validSigs, &sealers, &checks, &digest, &checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("block %d: %w", n, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load block %d: %w", n, err)
	}
	b := &verify.Block{Number: n, Hash: common.BytesToHash(hash), HasState: hasState, Source: source,
		RootRule: block.RootRule(rule), ValidSignatures: int(validSigs), SealerCount: int(sealers), Checks: checks}
	copy(b.Digest[:], digest)
	copy(b.Checkpoint[:], checkpoint)
	if len(senders) != 20*int(txCount) {
		return nil, fmt.Errorf("load block %d: %d bytes of senders for %d transactions", n, len(senders), txCount)
	}
	b.Senders = make([]common.Address, txCount)
	for i := range b.Senders {
		copy(b.Senders[i][:], senders[20*i:])
	}
	if hasState {
		b.State = []state.Table{}
		for _, name := range tables {
			st, err := s.stateOf(ctx, q, name, n)
			if err != nil {
				return nil, err
			}
			b.State = append(b.State, *st)
		}
		state.Canonicalize(b.State)
		if raw == nil {
			if hb := state.Find(b.State, state.TableHash2Block); hb != nil && len(hb.Rows) == 1 {
				if v, ok := hb.Field(&hb.Rows[0], "value"); ok {
					raw = verify.HexOrRaw(v.Data)
				}
			}
		}
	}
	if raw == nil {
		return nil, fmt.Errorf("load block %d: no block bytes stored", n)
	}
	b.Raw = raw
	if b.Block, err = block.DecodeBlock(raw); err != nil {
		return nil, fmt.Errorf("load block %d: %w", n, err)
	}
	return b, nil
}

// stateOf reads the rows table name got in block n.
func (s *Store) stateOf(ctx context.Context, q querier, name string, n uint64) (*state.Table, error) {
	t := s.table(name)
	if t == nil {
		return nil, fmt.Errorf("load block %d: table %s is not in the catalog", n, name)
	}
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = $1", selectList(t), qualified(t.History), ident(colNum)), int64(n))
	if err != nil {
		return nil, fmt.Errorf("load block %d rows of table %s: %w", n, name, err)
	}
	out := &state.Table{Name: t.Name, KeyField: t.KeyField, Fields: t.Fields}
	err = scanRows(rows, t, func(r state.Row, _ uint64) error {
		out.Rows = append(out.Rows, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load block %d rows of table %s: %w", n, name, err)
	}
	inLayout(out, t, t.layoutAt(n))
	return out, nil
}

// SourceOf returns the source stored block n was taken from.
func (s *Store) SourceOf(ctx context.Context, n uint64) (string, error) {
	var src string
	if err := s.pool.QueryRow(ctx, `SELECT source FROM stash.stash_blocks WHERE number = $1`, int64(n)).Scan(&src); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("block %d: %w", n, ErrNotFound)
		}
		return "", fmt.Errorf("read source of block %d: %w", n, err)
	}
	return src, nil
}
