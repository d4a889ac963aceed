package store

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Block is a row of export.blocks.
type Block struct {
	Number      uint64
	Hash        []byte
	Parent      []byte
	Time        time.Time
	TimestampMS uint64
	Sealer      []byte
	SealerIndex uint64
	TxCount     int
	GasUsed     *big.Int
}

// Tx is a row of export.transactions.
type Transaction struct {
	BlockNumber     uint64
	Index           uint32
	Hash            []byte
	From            []byte
	To              []byte // nil for a creation
	Input           []byte
	Value           *big.Int
	Nonce           *big.Int
	BlockLimit      *big.Int
	Gas             *big.Int
	GasPrice        *big.Int
	Status          uint32
	RevertReason    *string
	Output          []byte
	GasUsed         *big.Int
	ContractAddress []byte // nil unless a creation succeeded
}

// Log is a row of export.logs.
type Log struct {
	BlockNumber uint64
	TxHash      []byte
	TxIndex     uint32
	LogIndex    uint32
	Address     []byte
	Topics      [][]byte
	Data        []byte
}

// Numeric returns n as an exact numeric for pgx (nil is 0).
func Numeric(n *big.Int) pgtype.Numeric {
	if n == nil {
		n = new(big.Int)
	}
	return pgtype.Numeric{Int: n, Exp: 0, Valid: true}
}

// nullable keeps nil byte slices NULL and turns empty ones into empty bytea.
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// ErrDuplicate reports a batch holding a block twice, which CopyFresh does not take: apply
// such a batch without it.
var ErrDuplicate = errors.New("duplicate rows in a batch")

// WriteBase writes blocks with their transactions and logs, creating the partitions they need,
// and moves the progress row on. Rows already stored are left as they are.
func (t *Tx) WriteBase(ctx context.Context, blocks []Block, txs []Transaction, logs []Log, skipped int) error {
	numbers := make([]uint64, 0, len(blocks))
	for _, b := range blocks {
		numbers = append(numbers, b.Number)
	}
	t.fresh = map[uint64]bool{}
	if t.copyFresh && len(numbers) > 0 {
		stored, err := t.storedBlocks(ctx, numbers)
		if err != nil {
			return err
		}
		for _, n := range numbers {
			if !stored[n] {
				t.fresh[n] = true
			}
		}
	}
	var bfresh, brows [][]any
	seen := map[uint64]bool{}
	for _, b := range blocks {
		row := []any{int64(b.Number), b.Hash, b.Parent, b.Time, int64(b.TimestampMS), nullable(b.Sealer), int64(b.SealerIndex), b.TxCount, Numeric(b.GasUsed)}
		switch {
		case t.fresh[b.Number] && seen[b.Number]:
			// A block twice in one batch: its rows are in the batch twice, which only
			// the staging path tolerates.
			return fmt.Errorf("block %d twice in one batch: %w", b.Number, ErrDuplicate)
		case t.fresh[b.Number]:
			bfresh = append(bfresh, row)
		default:
			brows = append(brows, row)
		}
		seen[b.Number] = true
	}
	for _, table := range []string{"transactions", "logs"} {
		if err := t.ensurePartitions(ctx, table, numbers); err != nil {
			return err
		}
	}
	newBlocks, err := t.write(ctx, "blocks", []string{"number", "hash", "parent_hash", "time", "timestamp_ms", "sealer", "sealer_index", "tx_count", "gas_used"}, bfresh, brows)
	if err != nil {
		return err
	}
	var tfresh, trows [][]any
	for _, x := range txs {
		var sel []byte
		if x.To != nil && len(x.Input) >= 4 {
			sel = x.Input[:4]
		}
		row := []any{int64(x.BlockNumber), int32(x.Index), x.Hash, x.From, nullable(x.To), x.Input, nullable(sel),
			Numeric(x.Value), Numeric(x.Nonce), Numeric(x.BlockLimit), Numeric(x.Gas), Numeric(x.GasPrice),
			int32(x.Status), x.RevertReason, x.Output, Numeric(x.GasUsed), nullable(x.ContractAddress)}
		if t.fresh[x.BlockNumber] {
			tfresh = append(tfresh, row)
		} else {
			trows = append(trows, row)
		}
	}
	if _, err := t.write(ctx, "transactions", []string{"block_number", "transaction_index", "hash", "from_address", "to_address", "input", "selector",
		"value", "nonce", "block_limit", "gas", "gas_price", "status", "revert_reason", "output", "gas_used", "contract_address"}, tfresh, trows); err != nil {
		return err
	}
	var lfresh, lrows [][]any
	for _, l := range logs {
		row := []any{int64(l.BlockNumber), l.TxHash, int32(l.TxIndex), int32(l.LogIndex), l.Address, l.Topics, l.Data}
		if t.fresh[l.BlockNumber] {
			lfresh = append(lfresh, row)
		} else {
			lrows = append(lrows, row)
		}
	}
	if _, err := t.write(ctx, "logs", []string{"block_number", "transaction_hash", "transaction_index", "log_index", "address", "topics", "data"}, lfresh, lrows); err != nil {
		return err
	}
	var high *int64
	for _, n := range numbers {
		if high == nil || int64(n) > *high {
			v := int64(n)
			high = &v
		}
	}
	if _, err := t.Exec(ctx, `UPDATE export.progress SET exported_height = GREATEST(exported_height, $1), blocks = blocks + $2,
		skipped_blocks = skipped_blocks + $3, updated_at = now()`, high, newBlocks, int64(skipped)); err != nil {
		return fmt.Errorf("move progress: %w", err)
	}
	if newBlocks > 0 {
		// From the last contiguous height up to the first block still missing (a few index
		// probes: the gap is what the other partitions have not stored yet).
		if _, err := t.Exec(ctx, `UPDATE export.progress p SET contiguous_height = (
			SELECT min(s.n) - 1 FROM generate_series(coalesce(p.contiguous_height + 1,
				CASE WHEN p.start_time IS NULL THEN p.start_block ELSE (SELECT min(number) FROM export.blocks) END),
				p.exported_height + 1) AS s(n)
			WHERE NOT EXISTS (SELECT FROM export.blocks b WHERE b.number = s.n))
			WHERE p.exported_height IS NOT NULL`); err != nil {
			return fmt.Errorf("move the contiguous height: %w", err)
		}
	}
	return nil
}

// Deployment is a row of export.deployments.
type Deployment struct {
	Address     []byte
	Contract    string
	BlockNumber uint64
	TxHash      []byte
	Learned     bool
}

// AddDeployments records deployments and returns those that were not known yet.
func (t *Tx) AddDeployments(ctx context.Context, ds []Deployment) ([]Deployment, error) {
	var fresh []Deployment
	for _, d := range ds {
		var block *int64
		if d.Learned {
			v := int64(d.BlockNumber)
			block = &v
		}
		tag, err := t.Exec(ctx, `INSERT INTO export.deployments (address, contract, block_number, transaction_hash, learned) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (address) DO NOTHING`,
			d.Address, d.Contract, block, nullable(d.TxHash), d.Learned)
		if err != nil {
			return nil, fmt.Errorf("record deployment of %s at %x: %w", d.Contract, d.Address, err)
		}
		if tag.RowsAffected() == 1 {
			fresh = append(fresh, d)
			t.written["deployments"]++
		}
	}
	return fresh, nil
}

// Deployments returns the contract known at each of addrs, by address (as a string of bytes),
// as this transaction sees them.
func (t *Tx) Deployments(ctx context.Context, addrs [][]byte) (map[string]string, error) {
	return deployments(ctx, t.Tx, addrs)
}

// Deployments returns the contract known at each of addrs as committed so far, without the
// write lock: what a batch transaction will read unless another one records a deployment of
// one of addrs first.
func (s *Store) Deployments(ctx context.Context, addrs [][]byte) (map[string]string, error) {
	return deployments(ctx, s.pool, addrs)
}

func deployments(ctx context.Context, q querier, addrs [][]byte) (map[string]string, error) {
	out := map[string]string{}
	if len(addrs) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT address, contract FROM export.deployments WHERE address = ANY($1)`, addrs)
	if err != nil {
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a []byte
		var c string
		if err := rows.Scan(&a, &c); err != nil {
			return nil, fmt.Errorf("read deployments: %w", err)
		}
		out[string(a)] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read deployments: %w", err)
	}
	return out, nil
}

// Failure is a row of export.decode_failures.
type Failure struct {
	BlockNumber uint64
	TxHash      []byte
	LogIndex    int32
	Contract    string
	Address     []byte
	Err         string
}

// WriteFailures records decode failures.
func (t *Tx) WriteFailures(ctx context.Context, fs []Failure) error {
	var fresh, rows [][]any
	for _, f := range fs {
		row := []any{int64(f.BlockNumber), f.TxHash, f.LogIndex, f.Contract, nullable(f.Address), f.Err}
		if t.isFresh(f.BlockNumber) {
			fresh = append(fresh, row)
		} else {
			rows = append(rows, row)
		}
	}
	n, err := t.write(ctx, "decode_failures", []string{"block_number", "transaction_hash", "log_index", "contract", "address", "error"}, fresh, rows)
	t.failures += n
	return err
}

// The message types of the outbox, by which its counters tell events from calls.
const (
	SchemaEvent = "bcosdata.chain.v1.DecodedEvent"
	SchemaCall  = "bcosdata.chain.v1.DecodedCall"
)

// Message is an outbox row: one message of the events or calls topic.
type Message struct {
	Topic       string
	Key         []byte
	Value       []byte
	Schema      string
	BlockNumber uint64
	TxHash      []byte
	LogIndex    int32
}

// WriteOutbox queues messages for the publisher; a message already queued for the same
// topic, transaction and log index is left as it was, and so is a later one of the same key
// in ms.
//
// The messages are copied straight into export.outbox, which assigns seq in the order given,
// the order they are published in. Messages of blocks stored before this batch (decoded
// history) may be queued already: their keys are looked up first and those found left out.
// (Not array parameters to one INSERT … unnest: encoding seven arrays of a batch's messages
// cost pgx more than the rest of the batch's writes together; nor a staging table and INSERT
// … SELECT … ORDER BY ord ON CONFLICT DO NOTHING: that took longer than everything else in
// the batch, the staging table and the sort outgrowing temp_buffers and work_mem.)
func (t *Tx) WriteOutbox(ctx context.Context, ms []Message) error {
	if len(ms) == 0 {
		return nil
	}
	var (
		blocks []int64
		topics []string
		hashes [][]byte
		logs   []int32
	)
	for _, m := range ms {
		if !t.isFresh(m.BlockNumber) {
			blocks, topics, hashes, logs = append(blocks, int64(m.BlockNumber)), append(topics, m.Topic), append(hashes, m.TxHash), append(logs, m.LogIndex)
		}
	}
	if len(topics) > 0 {
		queued, err := t.queued(ctx, blocks, topics, hashes, logs)
		if err != nil {
			return err
		}
		keep := make([]Message, 0, len(ms))
		var b []byte
		for _, m := range ms {
			b = appendKey(b[:0], []any{m.Topic, m.TxHash, m.LogIndex})
			if !queued[string(b)] {
				queued[string(b)] = true
				keep = append(keep, m)
			}
		}
		ms = keep
	}
	i := 0
	n, err := t.CopyFrom(ctx, pgx.Identifier{Schema, "outbox"}, []string{"topic", "key", "value", "schema", "block_number", "transaction_hash", "log_index"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(ms) {
				return nil, nil
			}
			m := ms[i]
			i++
			return []any{m.Topic, m.Key, m.Value, m.Schema, int64(m.BlockNumber), m.TxHash, m.LogIndex}, nil
		}))
	if err != nil {
		return fmt.Errorf("queue %d messages: %w", len(ms), err)
	}
	t.written["outbox"] += n
	for _, m := range ms {
		switch m.Schema {
		case SchemaEvent:
			t.events++
		case SchemaCall:
			t.calls++
		}
	}
	if n > 0 {
		// Delivered at commit (once per transaction), to every instance's listener.
		if _, err := t.Exec(ctx, `NOTIFY `+OutboxChannel); err != nil {
			return fmt.Errorf("notify %s: %w", OutboxChannel, err)
		}
	}
	return nil
}

// queued returns which of the messages (block, topic, transaction hash, log index) are in the
// outbox, keyed (topic, transaction hash, log index) as appendKey encodes them.
func (t *Tx) queued(ctx context.Context, blocks []int64, topics []string, hashes [][]byte, logs []int32) (map[string]bool, error) {
	rows, err := t.Query(ctx, `SELECT k.topic, k.transaction_hash, k.log_index
		FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::integer[]) AS k(block_number, topic, transaction_hash, log_index)
		WHERE EXISTS (SELECT FROM export.outbox o WHERE o.block_number = k.block_number AND o.transaction_hash = k.transaction_hash
			AND o.log_index = k.log_index AND o.topic = k.topic)`,
		blocks, topics, hashes, logs)
	if err != nil {
		return nil, fmt.Errorf("read queued messages: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	var (
		topic string
		hash  []byte
		log   int32
		b     []byte
	)
	for rows.Next() {
		if err := rows.Scan(&topic, &hash, &log); err != nil {
			return nil, fmt.Errorf("read queued messages: %w", err)
		}
		b = appendKey(b[:0], []any{topic, hash, log})
		out[string(b)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read queued messages: %w", err)
	}
	return out, nil
}
