package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// The reads of the query API. Lists page by keyset on the natural order of their rows (block
// number, transaction index, log index), so a page after a key never repeats or skips a row
// whatever is written meanwhile. The typed tables' primary keys are that order (tableKey): a
// page is a range of the index. Those of transactions and logs (by hash) start with the block
// number only, and PostgreSQL sorts the rest of a block incrementally. Values only ever travel
// as parameters; identifiers (typed tables and their columns) come from the contract registry
// and are quoted.

// readLockTimeout is how long a read waits for a table lock before it gives up and tries
// again: a batch that creates partitions holds its parent tables' locks until it commits, and
// a read waiting behind it while holding another table's lock could deadlock with it. With a
// lock timeout well under PostgreSQL's deadlock_timeout (1 s) the read, not the batch, gives
// way.
const readLockTimeout = "100ms"

// readAttempts bounds the tries of a read that meets locked tables (about 5 s in all).
const readAttempts = 40

// querier is what the store's other reads (the registry, deployments) run their queries on.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// read runs steps on one connection of the query API's pool, each step's queries in one
// round trip (a pipelined batch whose callbacks read the rows), so a step may use what the
// one before it read; again from the first step while a query meets a lock it could not take
// in time (the pool's sessions have readLockTimeout) or a deadlock, and at once on another
// connection when the one used was lost (see readOnce). A step that queues nothing sends
// nothing. The queries share a snapshot only as far as READ COMMITTED gives one; no answer
// needs more (each is bounded by the contiguous height, which only grows).
func (s *Store) read(ctx context.Context, steps ...func(b *pgx.Batch)) error {
	var err error
	for range readAttempts {
		var lost bool
		lost, err = s.readOnce(ctx, steps)
		if lost {
			continue // at once, on another connection
		}
		if !IsLockConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(25 * time.Millisecond):
		}
	}
	return err
}

// readOnce runs steps on one connection; lost reports an error that closed the connection
// while ctx was live (the server ended the session, or the network dropped it): reads change
// nothing, so the caller tries again on another connection. The pool pings only connections
// idle for over a second before handing them out; one lost within that second, or while in
// use, is found here.
func (s *Store) readOnce(ctx context.Context, steps []func(b *pgx.Batch)) (lost bool, err error) {
	c, err := s.reads.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer c.Release()
	for _, step := range steps {
		b := &pgx.Batch{}
		step(b)
		if b.Len() == 0 {
			continue
		}
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			return ctx.Err() == nil && c.Conn().IsClosed(), err
		}
	}
	return false, nil
}

// IsLockConflict reports a read that gave way to a writer: a lock not taken in time or a
// deadlock.
func IsLockConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01")
}

// ErrNotFound reports a block or transaction that is not stored.
var ErrNotFound = errors.New("not stored")

// Key is a position in the natural order: block number, transaction index, log index.
type Key struct {
	Block uint64
	Tx    uint32
	Log   uint32
}

// Span selects rows by block number (both ends included) and block time (From included, To
// excluded); nil and zero ends are open.
type Span struct {
	FromBlock, ToBlock *uint64
	FromTime, ToTime   time.Time
}

// Page asks for at most Limit rows after After (nil: from the start), and for the number of
// rows matching (After aside) when Total.
type Page struct {
	After *Key
	Limit int
	Total bool
}

// where collects the conditions of a query and their arguments.
type where struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

// clone copies w, so a retried read starts from the same conditions.
func (w *where) clone() *where {
	return &where{conds: append([]string(nil), w.conds...), args: append([]any(nil), w.args...)}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "true"
	}
	return strings.Join(w.conds, " AND ")
}

func (w *where) span(s Span, blockCol, timeCol string) {
	// Lists end at the contiguous height (see migration 005): a block stored after later ones
	// shows only once every block before it is there, so keyset pages never pass over it.
	w.add(blockCol + " <= (SELECT contiguous_height FROM export.progress)")
	if s.FromBlock != nil {
		w.add(blockCol + " >= " + w.arg(int64(*s.FromBlock)))
	}
	if s.ToBlock != nil {
		w.add(blockCol + " <= " + w.arg(int64(*s.ToBlock)))
	}
	if !s.FromTime.IsZero() {
		w.add(timeCol + " >= " + w.arg(s.FromTime))
	}
	if !s.ToTime.IsZero() {
		w.add(timeCol + " < " + w.arg(s.ToTime))
	}
}

// after adds the keyset condition: rows after k in the order of cols (1 to 3 of block
// number, transaction index, log index). The block number's own bound lets the primary key
// index find the first block.
func (w *where) after(k *Key, cols ...string) {
	if k == nil {
		return
	}
	b := w.arg(int64(k.Block))
	if len(cols) == 1 {
		w.add(cols[0] + " > " + b)
		return
	}
	vals := []string{b, w.arg(int32(k.Tx))}
	if len(cols) == 3 {
		vals = append(vals, w.arg(int32(k.Log)))
	}
	w.add(cols[0] + " >= " + b)
	w.add("(" + strings.Join(cols, ", ") + ") > (" + strings.Join(vals, ", ") + ")")
}

// BlockInfo is a stored block as the API shows it.
type BlockInfo struct {
	Number      uint64
	Hash        []byte
	Parent      []byte
	Time        time.Time
	TimestampMS uint64
	Sealer      []byte
	SealerIndex uint32
	TxCount     uint32
	// GasUsed is decimal, empty when not stored (Data-Export's ignored columns).
	GasUsed string
}

const blockCols = `number, hash, parent_hash, time, timestamp_ms, sealer, sealer_index, coalesce(tx_count, 0), coalesce(gas_used::text, '')`

func scanBlock(row pgx.Row) (BlockInfo, error) {
	var (
		b      BlockInfo
		n, ts  int64
		si, tc int32
	)
	err := row.Scan(&n, &b.Hash, &b.Parent, &b.Time, &ts, &b.Sealer, &si, &tc, &b.GasUsed)
	b.Number, b.TimestampMS, b.SealerIndex, b.TxCount = uint64(n), uint64(ts), uint32(si), uint32(tc)
	return b, err
}

// Block returns the stored block of a number (hash nil) or of a hash.
func (s *Store) Block(ctx context.Context, number uint64, hash []byte) (BlockInfo, error) {
	q, arg := `SELECT `+blockCols+` FROM export.blocks WHERE number = $1`, any(int64(number))
	if hash != nil {
		q, arg = `SELECT `+blockCols+` FROM export.blocks WHERE hash = $1 ORDER BY number LIMIT 1`, hash
	}
	var b BlockInfo
	err := s.read(ctx, func(bt *pgx.Batch) {
		bt.Queue(q, arg).QueryRow(func(r pgx.Row) (err error) {
			b, err = scanBlock(r)
			return err
		})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNotFound
	}
	if err != nil {
		return b, fmt.Errorf("read block: %w", err)
	}
	return b, nil
}

// Blocks returns a page of stored blocks in s, by number, and the total when asked.
func (s *Store) Blocks(ctx context.Context, sp Span, p Page) ([]BlockInfo, int64, error) {
	w := &where{}
	w.span(sp, "number", "time")
	var (
		out   []BlockInfo
		total int64
	)
	err := s.read(ctx, func(bt *pgx.Batch) {
		queueCount(bt, p, `SELECT count(*) FROM export.blocks WHERE `+w.sql(), w.args, &total)
		w := w.clone()
		w.after(p.After, "number")
		bt.Queue(`SELECT `+blockCols+` FROM export.blocks WHERE `+w.sql()+` ORDER BY number LIMIT `+w.arg(p.Limit), w.args...).Query(func(rows pgx.Rows) (err error) {
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (BlockInfo, error) { return scanBlock(r) })
			return err
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list blocks: %w", err)
	}
	return out, total, nil
}

// queueCount queues the count of a list's rows into n when the page asks for it.
func queueCount(bt *pgx.Batch, p Page, q string, args []any, n *int64) {
	if !p.Total {
		return
	}
	bt.Queue(q, args...).QueryRow(func(r pgx.Row) error {
		if err := r.Scan(n); err != nil {
			return fmt.Errorf("count rows: %w", err)
		}
		return nil
	})
}

// TxInfo is a stored transaction with its receipt and block, as the API shows it. Decimal
// quantities are empty when not stored (Data-Export's ignored columns).
type TxInfo struct {
	BlockNumber     uint64
	BlockHash       []byte
	BlockTime       time.Time
	Index           uint32
	Hash            []byte
	From            []byte
	To              []byte
	Input           []byte
	Selector        []byte
	Value           string
	Nonce           string
	BlockLimit      string
	Gas             string
	GasPrice        string
	Status          uint32
	RevertReason    string
	Output          []byte
	GasUsed         string
	ContractAddress []byte
}

const txCols = `x.block_number, b.hash, b.time, x.transaction_index, x.hash, x.from_address, x.to_address, x.input, x.selector,
	coalesce(x.value::text, ''), coalesce(x.nonce::text, ''), coalesce(x.block_limit::text, ''), coalesce(x.gas::text, ''),
	coalesce(x.gas_price::text, ''), x.status, coalesce(x.revert_reason, ''), x.output, coalesce(x.gas_used::text, ''), x.contract_address`

func scanTx(row pgx.Row, extra ...any) (TxInfo, error) {
	var (
		x      TxInfo
		bn     int64
		ti, st int32
	)
	err := row.Scan(append([]any{&bn, &x.BlockHash, &x.BlockTime, &ti, &x.Hash, &x.From, &x.To, &x.Input, &x.Selector, &x.Value, &x.Nonce, &x.BlockLimit,
		&x.Gas, &x.GasPrice, &st, &x.RevertReason, &x.Output, &x.GasUsed, &x.ContractAddress}, extra...)...)
	x.BlockNumber, x.Index, x.Status = uint64(bn), uint32(ti), uint32(st)
	return x, err
}

// ContractTxs selects the transactions of a contract's deployments: calls to them (with one
// of Selectors, any when nil) and, with Creations, the transactions that created them.
type ContractTxs struct {
	Addresses [][]byte
	Calls     bool
	Selectors [][]byte
	Creations bool
}

// TxFilter selects transactions; zero fields match everything.
type TxFilter struct {
	From     []byte
	To       []byte
	Contract *ContractTxs
	Status   *uint32
	Span     Span
}

// Transactions returns a page of stored transactions matching f, in block and transaction
// order, and the total when asked.
func (s *Store) Transactions(ctx context.Context, f TxFilter, p Page) ([]TxInfo, int64, error) {
	w := &where{}
	w.span(f.Span, "x.block_number", "b.time")
	if f.From != nil {
		w.add("x.from_address = " + w.arg(f.From))
	}
	if f.To != nil {
		w.add("x.to_address = " + w.arg(f.To))
	}
	if f.Status != nil {
		w.add("x.status = " + w.arg(int32(*f.Status)))
	}
	if c := f.Contract; c != nil {
		addrs := w.arg(c.Addresses)
		var alts []string
		if c.Calls {
			call := "x.to_address = ANY(" + addrs + ")"
			if c.Selectors != nil {
				call += " AND x.selector = ANY(" + w.arg(c.Selectors) + ")"
			}
			alts = append(alts, "("+call+")")
		}
		if c.Creations {
			alts = append(alts, "(x.to_address IS NULL AND x.contract_address = ANY("+addrs+"))")
		}
		if len(alts) == 0 {
			alts = append(alts, "false")
		}
		w.add("(" + strings.Join(alts, " OR ") + ")")
	}
	from := ` FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number WHERE `
	var (
		out   []TxInfo
		total int64
	)
	err := s.read(ctx, func(bt *pgx.Batch) {
		queueCount(bt, p, `SELECT count(*)`+from+w.sql(), w.args, &total)
		w := w.clone()
		w.after(p.After, "x.block_number", "x.transaction_index")
		bt.Queue(`SELECT `+txCols+from+w.sql()+` ORDER BY x.block_number, x.transaction_index LIMIT `+w.arg(p.Limit), w.args...).Query(func(rows pgx.Rows) (err error) {
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TxInfo, error) { return scanTx(r) })
			return err
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list transactions: %w", err)
	}
	return out, total, nil
}

// TxDetail is a stored transaction with its logs.
type TxDetail struct {
	Tx   TxInfo
	Logs []Log
}

// TransactionDetail reads, in one round trip, the stored transaction of a hash, its logs and
// its rows in the typed tables of tt (through tt's function, see TxTables), in log order (a
// call's row has log index 0).
func (s *Store) TransactionDetail(ctx context.Context, hash []byte, tt *TxTables) (TxDetail, []DecodedRow, error) {
	var (
		d    TxDetail
		rows []DecodedRow
	)
	fn, err := s.decodedFunction(ctx, tt)
	if err != nil {
		return d, nil, err
	}
	err = s.read(ctx, func(bt *pgx.Batch) {
		d, rows = TxDetail{}, nil
		bt.Queue(`SELECT `+txCols+` FROM export.transactions x JOIN export.blocks b ON b.number = x.block_number
			WHERE x.hash = $1 ORDER BY x.block_number LIMIT 1`, hash).QueryRow(func(r pgx.Row) (err error) {
			d.Tx, err = scanTx(r)
			return err
		})
		bt.Queue(`WITH x AS (SELECT block_number, hash FROM export.transactions WHERE hash = $1 ORDER BY block_number LIMIT 1)
			SELECT l.log_index, l.address, l.topics, l.data FROM x
			JOIN export.logs l ON l.block_number = x.block_number AND l.transaction_hash = x.hash
			ORDER BY l.log_index`, hash).Query(func(logs pgx.Rows) (err error) {
			d.Logs, err = pgx.CollectRows(logs, func(r pgx.CollectableRow) (Log, error) {
				l := Log{BlockNumber: d.Tx.BlockNumber, TxHash: d.Tx.Hash, TxIndex: d.Tx.Index}
				var li int32
				err := r.Scan(&li, &l.Address, &l.Topics, &l.Data)
				l.LogIndex = uint32(li)
				return l, err
			})
			return err
		})
		if fn != "" {
			bt.Queue(tt.query, hash).Query(scanDecoded(tt.tables, &rows))
		}
	})
	var pe *pgconn.PgError
	if fn != "" && errors.As(err, &pe) && pe.Code == "42883" { // undefined_function: dropped meanwhile
		s.functions.Delete(fn) // the next call creates it again
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return d, nil, ErrNotFound
	}
	if err != nil {
		return d, nil, fmt.Errorf("read transaction %x: %w", hash, err)
	}
	return d, rows, nil
}

// MaxDecodedPerTx bounds the decoded rows TransactionDetail reads of one transaction.
const MaxDecodedPerTx = 100_000

// DeploymentsOf returns a contract's known deployments by address.
func (s *Store) DeploymentsOf(ctx context.Context, name string) ([]Deployment, error) {
	rows, err := s.pool.Query(ctx, `SELECT address, coalesce(block_number, 0), transaction_hash, learned FROM export.deployments WHERE contract = $1 ORDER BY address`, name)
	if err != nil {
		return nil, fmt.Errorf("read deployments of %s: %w", name, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deployment, error) {
		d := Deployment{Contract: name}
		var bn int64
		err := r.Scan(&d.Address, &bn, &d.TxHash, &d.Learned)
		d.BlockNumber = uint64(bn)
		return d, err
	})
}

// Cond compares a parameter column of a typed table with a value: Op is one of = <> < <= > >=,
// Cast the SQL type the value is cast to ("" for none: the value's own type).
type Cond struct {
	Column string
	Op     string
	Value  any
	Cast   string
}

var condOps = map[string]bool{"=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true}

var condCasts = map[string]bool{"": true, "numeric": true, "jsonb": true, "boolean": true, "text": true}

// TypedQuery selects rows of typed tables of one kind: events, or methods and constructors.
type TypedQuery struct {
	Tables []*contract.Table
	// Address selects one deployment's rows (contract_address), nil any.
	Address []byte
	// From and Status select calls by sender and receipt status.
	From   []byte
	Status *uint32
	// Conds apply to every table (the API allows them with one table only).
	Conds []Cond
	Span  Span
}

// DecodedRow is a row of a typed table, its parameter columns as text.
type DecodedRow struct {
	Table           *contract.Table
	BlockNumber     uint64
	BlockTime       time.Time
	TxHash          []byte
	TxIndex         uint32
	LogIndex        uint32
	ContractAddress []byte
	From            []byte
	Status          uint32
	// Values are the parameter columns in Table.Columns order as text: decimal numbers, 0x
	// hex for bytea, the text of the others (jsonb as PostgreSQL prints it); nil for NULL.
	Values []*string
}

// textOf is the SQL expression of a parameter column as text.
func textOf(c contract.Column) string {
	col := pgx.Identifier{c.Name}.Sanitize()
	if strings.HasPrefix(c.SQLType, "bytea") && !strings.HasSuffix(c.SQLType, "]") {
		return `'0x' || encode(` + col + `, 'hex')`
	}
	return col + `::text`
}

// Decoded returns a page of the rows of q's typed tables in the natural order, and their
// total when asked. Events are ordered by block, transaction and log index; calls by block
// and transaction index.
func (s *Store) Decoded(ctx context.Context, q TypedQuery, p Page) ([]DecodedRow, int64, error) {
	if len(q.Tables) == 0 {
		return nil, 0, nil
	}
	events := q.Tables[0].Kind == contract.EventTable
	order := []string{ColBlockNumber, ColTxIndex}
	if events {
		order = append(order, ColLogIndex)
	}
	w := &where{}
	w.span(q.Span, ColBlockNumber, ColBlockTime)
	if q.Address != nil {
		w.add(ColContractAddress + " = " + w.arg(q.Address))
	}
	if !events && q.From != nil {
		w.add(ColFrom + " = " + w.arg(q.From))
	}
	if !events && q.Status != nil {
		w.add(ColStatus + " = " + w.arg(int32(*q.Status)))
	}
	for _, c := range q.Conds {
		if !condOps[c.Op] || !condCasts[c.Cast] {
			return nil, 0, fmt.Errorf("condition on %s: operator %q or cast %q not allowed", c.Column, c.Op, c.Cast)
		}
		v := w.arg(c.Value)
		if c.Cast != "" {
			v += "::" + c.Cast
		}
		w.add(pgx.Identifier{c.Column}.Sanitize() + " " + c.Op + " " + v)
	}
	var (
		out   []DecodedRow
		total int64
	)
	err := s.read(ctx, func(bt *pgx.Batch) {
		if p.Total {
			parts := make([]string, len(q.Tables))
			for i, t := range q.Tables {
				parts[i] = `SELECT count(*) AS n FROM export.` + pgx.Identifier{t.Name}.Sanitize() + ` WHERE ` + w.sql()
			}
			queueCount(bt, p, `SELECT coalesce(sum(n), 0)::bigint FROM (`+strings.Join(parts, " UNION ALL ")+`) c`, w.args, &total)
		}
		queueDecodedPage(bt, q, p, w.clone(), order, &out)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list decoded rows of %s: %w", q.Tables[0].Contract, err)
	}
	return out, total, nil
}

func queueDecodedPage(bt *pgx.Batch, q TypedQuery, p Page, w *where, order []string, out *[]DecodedRow) {
	w.after(p.After, order...)
	limit := w.arg(p.Limit)
	orderBy := strings.Join(order, ", ")
	parts := make([]string, len(q.Tables))
	for i, t := range q.Tables {
		parts[i] = fmt.Sprintf(`(SELECT %s FROM export.%s WHERE %s ORDER BY %s LIMIT %s)`,
			decodedColumns(i, t), pgx.Identifier{t.Name}.Sanitize(), w.sql(), orderBy, limit)
	}
	sql := parts[0]
	if len(parts) > 1 {
		sql = `SELECT * FROM (` + strings.Join(parts, " UNION ALL ") + `) u ORDER BY ` + orderBy + ` LIMIT ` + limit
	}
	bt.Queue(sql, w.args...).Query(scanDecoded(q.Tables, out))
}

// decodedColumns is the select list scanDecoded reads of typed table t, the i-th of the
// statement's tables: i, the columns every typed row has (a call's log index 0, an event's
// sender and status empty), and the parameters as text. The names are unqualified: the
// table's columns.
func decodedColumns(i int, t *contract.Table) string {
	vals := make([]string, len(t.Columns))
	for j, c := range t.Columns {
		vals[j] = textOf(c)
	}
	extra := ColLogIndex + ", NULL::bytea AS " + ColFrom + ", 0 AS " + ColStatus
	if t.Kind != contract.EventTable {
		extra = "0 AS " + ColLogIndex + ", " + ColFrom + ", " + ColStatus
	}
	return fmt.Sprintf(`%d AS t, %s, %s, %s, %s, %s, %s, ARRAY[%s]::text[] AS vals`,
		i, ColBlockNumber, ColBlockTime, ColTxHash, ColTxIndex, extra, ColContractAddress, strings.Join(vals, ", "))
}

// scanDecoded reads rows of tables (t, the table's index in tables, then the common columns
// and the parameters as text) into out.
func scanDecoded(tables []*contract.Table, out *[]DecodedRow) func(pgx.Rows) error {
	return func(rows pgx.Rows) (err error) {
		*out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DecodedRow, error) {
			var (
				d          DecodedRow
				t          int32
				bn         int64
				ti, li, st int32
				vals       pgtype.FlatArray[pgtype.Text] // pgx scans it without reflection, unlike []*string
			)
			if err := r.Scan(&t, &bn, &d.BlockTime, &d.TxHash, &ti, &li, &d.From, &st, &d.ContractAddress, &vals); err != nil {
				return d, err
			}
			d.Table, d.BlockNumber, d.TxIndex, d.LogIndex, d.Status = tables[t], uint64(bn), uint32(ti), uint32(li), uint32(st)
			d.Values = make([]*string, len(vals))
			for i := range vals {
				if vals[i].Valid {
					d.Values[i] = &vals[i].String
				}
			}
			return d, nil
		})
		return err
	}
}

// TableRows counts the rows of typed tables, by name.
func (s *Store) TableRows(ctx context.Context, tables []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range tables {
		var n int64
		err := s.read(ctx, func(bt *pgx.Batch) {
			bt.Queue(`SELECT count(*) FROM export.` + pgx.Identifier{t}.Sanitize()).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
		})
		if err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}

// OutboxAfter reads the next limit queued messages of topic after seq, in sequence order,
// and returns those of blocks from fromBlock on and keyed by key (when not nil), the last
// sequence number read and how many were read. Sequence order is commit order across
// instances (see Begin), so a reader that goes on after the last seq it read sees every
// message once; it goes on after the messages that did not match too, so a selective reader
// does not read them again.
func (s *Store) OutboxAfter(ctx context.Context, topic string, seq int64, fromBlock uint64, key []byte, limit int) (matched []Queued, last int64, read int, err error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, topic, key, CASE WHEN m THEN value END, schema, block_number, transaction_hash, log_index, m
		FROM (SELECT *, block_number >= $3 AND ($4::bytea IS NULL OR key = $4) AS m FROM export.outbox
			WHERE topic = $1 AND seq > $2 ORDER BY seq LIMIT $5) o ORDER BY seq`, topic, seq, int64(fromBlock), key, limit)
	if err != nil {
		return nil, seq, 0, fmt.Errorf("read outbox after %d: %w", seq, err)
	}
	defer rows.Close()
	last = seq
	for rows.Next() {
		var (
			q  Queued
			bn int64
			m  bool
		)
		if err := rows.Scan(&q.Seq, &q.Topic, &q.Key, &q.Value, &q.Schema, &bn, &q.TxHash, &q.LogIndex, &m); err != nil {
			return nil, seq, 0, fmt.Errorf("read outbox after %d: %w", seq, err)
		}
		q.BlockNumber = uint64(bn)
		last = q.Seq
		read++
		if m {
			matched = append(matched, q)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, seq, 0, fmt.Errorf("read outbox after %d: %w", seq, err)
	}
	return matched, last, read, nil
}
