package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Apply stores a run of consecutive verified blocks, following the last stored one, in one
// transaction: their mirrored rows, their stash_blocks rows and the progress row. Either all of
// it is committed or none.
func (s *Store) Apply(ctx context.Context, blocks []*verify.Block) error {
	if len(blocks) == 0 {
		return nil
	}
	first, last := blocks[0].Number, blocks[len(blocks)-1].Number
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store blocks %d-%d: begin: %w", first, last, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after commit

	pending, err := s.ensureTables(ctx, tx, blocks)
	if err != nil {
		return fmt.Errorf("store blocks %d-%d: %w", first, last, err)
	}
	if err := s.writeRows(ctx, tx, blocks, pending); err != nil {
		return fmt.Errorf("store blocks %d-%d: %w", first, last, err)
	}
	if err := writeBlocks(ctx, tx, blocks); err != nil {
		return fmt.Errorf("store blocks %d-%d: %w", first, last, err)
	}
	tail := blocks[len(blocks)-1]
	if _, err := tx.Exec(ctx, `UPDATE stash.stash_progress SET last_verified = $1, checkpoint = $2,
		first_block = COALESCE(first_block, $3), updated_at = now()`, int64(last), tail.Checkpoint[:], int64(first)); err != nil {
		return fmt.Errorf("store blocks %d-%d: update progress: %w", first, last, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store blocks %d-%d: commit: %w", first, last, err)
	}
	if len(pending) > 0 {
		indexed := s.keyIndexes.Load()
		s.mu.Lock()
		for n, t := range pending {
			s.catalog[n] = t
			if !indexed {
				s.unindexed[n] = true
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// BuildKeyIndexes creates the key index of every mirrored table that lacks it, and from then
// on tables get theirs when they are created. The pipeline calls it once it has caught up with
// its sources: while catching up, keys (storage slots, transaction hashes) arrive in random
// order, and maintaining a B-tree on them row by row was measured at over a third of
// PostgreSQL's time, whereas building the index afterwards sorts the keys once. Nothing the
// stash itself reads uses these indexes (it reads by _id_ and _num_); they serve lookups by
// key. Safe to call again: tables already indexed are not touched. It returns the number of
// indexes it created.
func (s *Store) BuildKeyIndexes(ctx context.Context) (int, error) {
	s.mu.RLock()
	var todo []*tableInfo
	for n := range s.unindexed {
		todo = append(todo, s.catalog[n])
	}
	s.mu.RUnlock()
	slices.SortFunc(todo, func(a, b *tableInfo) int { return strings.Compare(a.Name, b.Name) })
	built := 0
	for _, t := range todo {
		created, err := s.buildKeyIndex(ctx, t)
		if err != nil {
			return built, err
		}
		if created {
			built++
		}
		s.mu.Lock()
		delete(s.unindexed, t.Name)
		s.mu.Unlock()
	}
	s.keyIndexes.Store(true)
	return built, nil
}

// buildKeyIndex creates a table's key index unless an index on the key column exists (under
// whatever name PostgreSQL chose for it), in one transaction so a crash leaves either no index
// or a complete one.
func (s *Store) buildKeyIndex(ctx context.Context, t *tableInfo) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("index key of mirror of table %s: begin: %w", t.Name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after commit
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = $1::regclass AND a.attname = $2)`, qualified(t.Main), t.KeyColumn).Scan(&exists); err != nil {
		return false, fmt.Errorf("index key of mirror of table %s: look for the index: %w", t.Name, err)
	}
	if exists {
		return false, nil
	}
	if _, err := tx.Exec(ctx, keyIndexSQL(t)); err != nil {
		return false, fmt.Errorf("index key of mirror of table %s: %w", t.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("index key of mirror of table %s: commit: %w", t.Name, err)
	}
	return true, nil
}

func keyIndexSQL(t *tableInfo) string {
	return fmt.Sprintf("CREATE INDEX ON %s (%s)", qualified(t.Main), ident(t.KeyColumn))
}

// ensureTables creates the mirrored tables the blocks write for the first time and adds
// columns for fields not seen before. It returns the new catalog entries, to be published to
// the in-memory catalog only once the transaction commits.
func (s *Store) ensureTables(ctx context.Context, tx pgx.Tx, blocks []*verify.Block) (map[string]*tableInfo, error) {
	pending := map[string]*tableInfo{}
	lookup := func(n string) *tableInfo {
		if t, ok := pending[n]; ok {
			return t
		}
		return s.table(n)
	}
	for _, b := range blocks {
		for i := range b.State {
			st := &b.State[i]
			t := lookup(st.Name)
			if t == nil {
				nt, err := s.createTable(ctx, tx, st, b.Number, pending)
				if err != nil {
					return nil, err
				}
				pending[st.Name] = nt
				continue
			}
			if sameLayout(t.current(), st) {
				continue
			}
			// The node changed the table (an upgrade): keep the field list blocks before this
			// one had, and add columns for new fields.
			nt := t.clone()
			if len(nt.Layouts) == 0 {
				nt.Layouts = append(nt.Layouts, t.current())
			}
			nt.Layouts = append(nt.Layouts, layout{From: b.Number, Key: st.KeyField, Fields: slices.Clone(st.Fields)})
			var missing []string
			for _, f := range st.Fields {
				if !slices.Contains(nt.Fields, f) && f != nt.KeyField {
					missing = append(missing, f)
				}
			}
			if err := addColumns(ctx, tx, nt, missing); err != nil {
				return nil, err
			}
			pending[st.Name] = nt
		}
	}
	return pending, nil
}

func (s *Store) createTable(ctx context.Context, tx pgx.Tx, st *state.Table, block uint64, pending map[string]*tableInfo) (*tableInfo, error) {
	used := map[string]bool{}
	s.mu.RLock()
	for _, t := range s.catalog {
		used[t.Main], used[t.History] = true, true
	}
	s.mu.RUnlock()
	for _, t := range pending {
		used[t.Main], used[t.History] = true, true
	}
	t := &tableInfo{Name: st.Name, KeyField: st.KeyField, Ledger: ledgerTables[st.Name], FirstBlock: block,
		Layouts: []layout{{From: block, Key: st.KeyField, Fields: slices.Clone(st.Fields)}}}
	t.Main = st.Name
	if !usableName(t.Main) || used[t.Main] || used[historyName(t.Main)] {
		t.Main = hashedName(st.Name)
	}
	t.History = historyName(t.Main)
	taken := map[string]bool{colID: true, colNum: true, colStatus: true, colKind: true}
	t.KeyColumn = columnName(st.KeyField, 0, taken)
	for i, f := range st.Fields {
		t.Fields = append(t.Fields, f)
		t.Columns = append(t.Columns, columnName(f, i+1, taken))
	}
	cols := []string{
		ident(colID) + " bigint NOT NULL",
		ident(colNum) + " bigint NOT NULL",
		ident(colStatus) + " smallint NOT NULL",
		ident(colKind) + " smallint NOT NULL",
		ident(t.KeyColumn) + " bytea",
	}
	for _, c := range t.Columns {
		cols = append(cols, ident(c)+" bytea")
	}
	def := strings.Join(cols, ", ")
	main, hist := qualified(t.Main), qualified(t.History)
	stmts := []string{fmt.Sprintf("CREATE TABLE %s (%s, PRIMARY KEY (%s))", main, def, ident(colID))}
	if s.keyIndexes.Load() {
		stmts = append(stmts, keyIndexSQL(t))
	}
	// Rows are appended in block order, so _num_ follows the physical order: a BRIN index
	// finds a block's rows for a fraction of a B-tree's upkeep.
	if t.Ledger {
		stmts = append(stmts,
			fmt.Sprintf("CREATE INDEX ON %s USING brin (%s)", main, ident(colNum)),
			fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM %s", hist, main))
	} else {
		stmts = append(stmts,
			fmt.Sprintf("CREATE TABLE %s (%s, PRIMARY KEY (%s, %s))", hist, def, ident(colID), ident(colNum)),
			fmt.Sprintf("CREATE INDEX ON %s USING brin (%s)", hist, ident(colNum)))
	}
	// Values are mostly hashes, signatures and RLP, which do not compress: store large ones
	// out of line without spending CPU on compression.
	tables := []string{main}
	if !t.Ledger {
		tables = append(tables, hist)
	}
	for _, tbl := range tables {
		for _, c := range append([]string{t.KeyColumn}, t.Columns...) {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET STORAGE EXTERNAL", tbl, ident(c)))
		}
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("create mirror of table %s: %w", st.Name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO stash.stash_tables (name, main_table, history_table, key_field, key_column, fields, columns, ledger, first_block, layouts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, t.Name, t.Main, t.History, t.KeyField, t.KeyColumn, t.Fields, t.Columns, t.Ledger, int64(block), t.Layouts); err != nil {
		return nil, fmt.Errorf("catalog table %s: %w", st.Name, err)
	}
	return t, nil
}

func addColumns(ctx context.Context, tx pgx.Tx, t *tableInfo, fields []string) error {
	taken := map[string]bool{colID: true, colNum: true, colStatus: true, colKind: true, t.KeyColumn: true}
	for _, c := range t.Columns {
		taken[c] = true
	}
	for _, f := range fields {
		c := columnName(f, len(t.Fields)+1, taken)
		t.Fields, t.Columns = append(t.Fields, f), append(t.Columns, c)
		targets := []string{t.Main}
		if !t.Ledger {
			targets = append(targets, t.History)
		}
		for _, tbl := range targets {
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s bytea, ALTER COLUMN %s SET STORAGE EXTERNAL", qualified(tbl), ident(c), ident(c))); err != nil {
				return fmt.Errorf("add field %s to mirror of table %s: %w", f, t.Name, err)
			}
		}
		if t.Ledger {
			// The view froze the column list when it was created.
			if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT * FROM %s", qualified(t.History), qualified(t.Main))); err != nil {
				return fmt.Errorf("extend history view of table %s: %w", t.Name, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE stash.stash_tables SET fields = $2, columns = $3, layouts = $4 WHERE name = $1`, t.Name, t.Fields, t.Columns, t.Layouts); err != nil {
		return fmt.Errorf("catalog fields of table %s: %w", t.Name, err)
	}
	return nil
}

// version is one row version bound for a mirrored table.
type version struct {
	num uint64
	t   *state.Table
	r   *state.Row
}

// writeRows writes every row version of the batch: history tables by COPY, then the latest
// version of each row into the main tables (upserted, and left alone when nothing changed);
// ledger tables by COPY straight into the main table.
func (s *Store) writeRows(ctx context.Context, tx pgx.Tx, blocks []*verify.Block, pending map[string]*tableInfo) error {
	byTable := map[string][]version{}
	var names []string
	for _, b := range blocks {
		for i := range b.State {
			st := &b.State[i]
			if _, ok := byTable[st.Name]; !ok {
				names = append(names, st.Name)
			}
			for j := range st.Rows {
				byTable[st.Name] = append(byTable[st.Name], version{num: b.Number, t: st, r: &st.Rows[j]})
			}
		}
	}
	slices.Sort(names)
	first, last := blocks[0].Number, blocks[len(blocks)-1].Number
	for _, name := range names {
		t := pending[name]
		if t == nil {
			t = s.table(name)
		}
		vs := byTable[name]
		if len(vs) == 0 {
			continue
		}
		cols := append([]string{colID, colNum, colStatus, colKind, t.KeyColumn}, t.Columns...)
		if t.Ledger {
			var inserts, updates []version
			for _, v := range vs {
				if v.r.Kind == state.KindNew {
					inserts = append(inserts, v)
				} else {
					updates = append(updates, v)
				}
			}
			if err := copyVersions(ctx, tx, t, t.Main, cols, inserts); err != nil {
				return err
			}
			if err := upsertValues(ctx, tx, t, cols, updates); err != nil {
				return err
			}
			continue
		}
		if err := copyVersions(ctx, tx, t, t.History, cols, vs); err != nil {
			return err
		}
		fresh, updated := latestVersions(t, vs)
		if err := copyRows(ctx, tx, t, cols, fresh); err != nil {
			return err
		}
		if len(updated) > 0 {
			if err := upsertFromHistory(ctx, tx, t, cols, first, last, updated); err != nil {
				return err
			}
		}
	}
	return nil
}

// rowValues returns a version's column values in cols order (the first five are the specials
// and the key).
func rowValues(t *tableInfo, v version) []any {
	out := make([]any, 5+len(t.Columns))
	out[0], out[1], out[2], out[3] = int64(v.r.ID), int64(v.num), int16(v.r.Status), int16(v.r.Kind)
	out[4] = bytesOrNull(v.r.Key)
	for i := range t.Columns {
		out[5+i] = []byte(nil)
	}
	for i, f := range v.t.Fields {
		if i >= len(v.r.Values) {
			break
		}
		j := slices.Index(t.Fields, f)
		if j < 0 {
			continue
		}
		out[5+j] = bytesOrNull(v.r.Values[i])
	}
	return out
}

func bytesOrNull(v state.Value) []byte {
	if !v.Set {
		return nil
	}
	if v.Data == nil {
		return []byte{}
	}
	return v.Data
}

// latestVersions splits the rows a batch wrote into rows inserted by the batch (their first
// version is a new entry, so the main table cannot hold them yet), merged to their latest
// state, and the ids of rows that existed before the batch.
func latestVersions(t *tableInfo, vs []version) (fresh []version, updated []int64) {
	type acc struct {
		v      version
		merged *state.Row
	}
	byID := map[uint64]*acc{}
	var order []uint64
	for _, v := range vs {
		a, ok := byID[v.r.ID]
		if !ok {
			a = &acc{v: v}
			byID[v.r.ID] = a
			order = append(order, v.r.ID)
			if v.r.Kind != state.KindNew {
				updated = append(updated, int64(v.r.ID))
			}
			continue
		}
		if a.v.r.Kind != state.KindNew {
			continue // merged in SQL from the history table
		}
		// A row inserted and then updated within the batch: merge the update over it,
		// mapping fields by name (the versions may list fields differently).
		if a.merged == nil {
			m := state.Row{ID: a.v.r.ID, Key: a.v.r.Key, Values: make([]state.Value, len(t.Fields))}
			for i, f := range a.v.t.Fields {
				if j := slices.Index(t.Fields, f); j >= 0 && i < len(a.v.r.Values) {
					m.Values[j] = a.v.r.Values[i]
				}
			}
			a.merged = &m
		}
		a.merged.Status, a.merged.Kind = v.r.Status, v.r.Kind
		if v.r.Key.Set {
			a.merged.Key = v.r.Key
		}
		for i, f := range v.t.Fields {
			if j := slices.Index(t.Fields, f); j >= 0 && i < len(v.r.Values) && v.r.Values[i].Set {
				a.merged.Values[j] = v.r.Values[i]
			}
		}
		a.v.num = v.num
	}
	for _, id := range order {
		a := byID[id]
		if a.v.r.Kind != state.KindNew {
			continue
		}
		if a.merged != nil {
			mt := &state.Table{Name: t.Name, KeyField: t.KeyField, Fields: t.Fields}
			fresh = append(fresh, version{num: a.v.num, t: mt, r: a.merged})
			continue
		}
		fresh = append(fresh, a.v)
	}
	return fresh, updated
}

// copyRows inserts rows the main table does not hold yet.
func copyRows(ctx context.Context, tx pgx.Tx, t *tableInfo, cols []string, rows []version) error {
	return copyVersions(ctx, tx, t, t.Main, cols, rows)
}

// upsertFromHistory moves the row versions of the rows ids written in blocks [first, last]
// from the history table into the main table. A version carries only the fields its entry set
// (binlogs of node binaries 2.5.0 and later may leave fields out of an update), so each field
// takes its newest value from the batch and otherwise keeps the one the main table has. A row
// is only replaced by a newer version, and not rewritten when nothing differs, so a replayed
// batch leaves the table untouched.
func upsertFromHistory(ctx context.Context, tx pgx.Tx, t *tableInfo, cols []string, first, last uint64, ids []int64) error {
	q := fmt.Sprintf(`INSERT INTO %s AS m (%s) %s
		ON CONFLICT (%s) DO UPDATE SET %s
		WHERE m.%s <= EXCLUDED.%s AND (%s) IS DISTINCT FROM (%s)`,
		qualified(t.Main), identList(cols, ""), mergedVersions(t, "BETWEEN $1 AND $2 AND "+ident(colID)+" = ANY($3)"),
		ident(colID), mergeSet(cols[1:]),
		ident(colNum), ident(colNum), identList(cols[1:], "m."), mergedList(cols[1:]))
	if _, err := tx.Exec(ctx, q, int64(first), int64(last), ids); err != nil {
		return fmt.Errorf("update latest rows of mirror of table %s: %w", t.Name, err)
	}
	return nil
}

// mergedVersions selects, per row id, the merge of the history versions whose _num_ matches
// cond: the newest _num_, _status_ and _kind_, and for each field its newest value that was set.
func mergedVersions(t *tableInfo, cond string) string {
	order := " ORDER BY " + ident(colNum) + " DESC"
	sel := []string{ident(colID), "max(" + ident(colNum) + ")",
		"(array_agg(" + ident(colStatus) + order + "))[1]", "(array_agg(" + ident(colKind) + order + "))[1]"}
	for _, c := range append([]string{t.KeyColumn}, t.Columns...) {
		sel = append(sel, fmt.Sprintf("(array_agg(%s%s) FILTER (WHERE %s IS NOT NULL))[1]", ident(c), order, ident(c)))
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s %s GROUP BY %s",
		strings.Join(sel, ", "), qualified(t.History), ident(colNum), cond, ident(colID))
}

// mergeSet updates the specials and takes each field from the new version when it was set.
func mergeSet(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if i < 3 {
			out[i] = ident(c) + " = EXCLUDED." + ident(c)
		} else {
			out[i] = fmt.Sprintf("%s = COALESCE(EXCLUDED.%s, m.%s)", ident(c), ident(c), ident(c))
		}
	}
	return strings.Join(out, ", ")
}

// mergedList is the row mergeSet produces, for the IS DISTINCT FROM guard.
func mergedList(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if i < 3 {
			out[i] = "EXCLUDED." + ident(c)
		} else {
			out[i] = fmt.Sprintf("COALESCE(EXCLUDED.%s, m.%s)", ident(c), ident(c))
		}
	}
	return strings.Join(out, ", ")
}

// upsertValues writes ledger-table updates, which nodes do not make but a stash must not lose.
func upsertValues(ctx context.Context, tx pgx.Tx, t *tableInfo, cols []string, vs []version) error {
	if len(vs) == 0 {
		return nil
	}
	ph := make([]string, len(cols))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	q := fmt.Sprintf(`INSERT INTO %s AS m (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s
		WHERE m.%s <= EXCLUDED.%s AND (%s) IS DISTINCT FROM (%s)`,
		qualified(t.Main), identList(cols, ""), strings.Join(ph, ", "), ident(colID), mergeSet(cols[1:]),
		ident(colNum), ident(colNum), identList(cols[1:], "m."), mergedList(cols[1:]))
	batch := &pgx.Batch{}
	for _, v := range vs {
		batch.Queue(q, rowValues(t, v)...)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("update %d ledger rows of mirror of table %s: %w", len(vs), t.Name, err)
	}
	return nil
}

func identList(cols []string, prefix string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = prefix + ident(c)
	}
	return strings.Join(out, ", ")
}

var blockColumns = []string{"number", "hash", "parent_hash", "timestamp_ms", "tx_count", "senders", "raw", "has_state",
	"tables", "source", "root_rule", "valid_signatures", "sealer_count", "checks", "digest", "checkpoint"}

func writeBlocks(ctx context.Context, tx pgx.Tx, blocks []*verify.Block) error {
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(blocks) {
			return nil, nil
		}
		b := blocks[i]
		i++
		senders := make([]byte, 0, 20*len(b.Senders))
		for _, a := range b.Senders {
			senders = append(senders, a[:]...)
		}
		var raw []byte
		if !b.HasState {
			raw = b.Raw
		}
		tables := make([]string, len(b.State))
		for j := range b.State {
			tables[j] = b.State[j].Name
		}
		return []any{int64(b.Number), b.Hash[:], b.ParentHash().Bytes(), int64(b.Timestamp()), int32(b.TxCount()),
			senders, raw, b.HasState, tables, b.Source, int16(b.RootRule), int32(b.ValidSignatures), int32(b.SealerCount),
			b.Checks, b.Digest[:], b.Checkpoint[:]}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "stash_blocks"}, blockColumns, src); err != nil {
		return fmt.Errorf("copy %d block rows: %w", len(blocks), err)
	}
	return nil
}
