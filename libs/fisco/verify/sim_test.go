package verify_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// sim builds a small chain with keys we hold, as binlog records, so that failures can be made
// that still carry valid hashes and signatures (the fixture's sealer keys are unknown).
type sim struct {
	t       testing.TB
	s       *cryptosuite.Suite
	sealers []*cryptosuite.PrivateKey
	active  []int // indices into sealers that form the current sealer list
	user    *cryptosuite.PrivateKey
	prev    common.Hash
	next    uint64
	id      uint64
}

func newSim(t testing.TB, s *cryptosuite.Suite, n int) *sim {
	t.Helper()
	c := &sim{t: t, s: s, id: 100000}
	for i := range n {
		k, err := s.KeyFromSeed(fmt.Appendf(nil, "verify-sealer-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		c.sealers = append(c.sealers, k)
		c.active = append(c.active, i)
	}
	c.user, _ = s.KeyFromSeed([]byte("verify-user"))
	return c
}

func (c *sim) nodeID(i int) string { return c.sealers[i].PublicKey().String() }

var consensusFields = []string{"name", "type", "node_id", "enable_num", "_status_", "_num_", "_id_"}

func val(s string) binlog.Value { return binlog.Value{Data: []byte(s), Set: true} }

// genesis returns the genesis record: no sealer list in the header (as in 0.binlog), the
// sealers as _sys_consensus_ rows with ids 100000+i.
func (c *sim) genesis() *binlog.Record {
	h := &block.Header{Number: 0, GasLimit: new(big.Int), GasUsed: new(big.Int), Timestamp: 1_600_000_000_000,
		ExtraData: [][]byte{[]byte("1-sim-genesis")}}
	blk := &block.Block{Header: h, BlockHash: h.Hash(c.s)}
	cons := binlog.Table{Name: "_sys_consensus_", Fields: consensusFields}
	for i := range c.sealers {
		cons.New = append(cons.New, binlog.NewEntry(uint64(100000+i), 0, []binlog.Value{val("node"), val("sealer"), val(c.nodeID(i)), val("0")}))
	}
	c.id = 100000 + uint64(len(c.sealers))
	return c.record(blk, cons)
}

// blockOpts shape one simulated block.
type blockOpts struct {
	txs     int
	signers []int // sealer-list positions that sign; default the first n-f
	// tamper runs after the block is assembled and before it is hashed and signed.
	tamper func(b *block.Block)
	// consensus rows the block writes.
	consensus      []binlog.Entry
	consensusDirty bool
}

func (c *sim) block(o blockOpts) (*binlog.Record, *block.Block) {
	t := c.t
	n := c.next
	h := &block.Header{ParentHash: c.prev, StateRoot: c.s.Hash([]byte("state"), []byte{byte(n)}), Number: n,
		GasLimit: new(big.Int), GasUsed: new(big.Int), Timestamp: 1_600_000_000_000 + n*1000, Sealer: 0}
	h.DBHash = h.StateRoot
	for _, i := range c.active {
		h.SealerList = append(h.SealerList, c.sealers[i].PublicKey())
	}
	var txs []*block.Transaction
	var rs []*block.Receipt
	for i := range o.txs {
		to := common.BytesToAddress([]byte{0xaa, byte(i)})
		tx := &block.Transaction{Nonce: big.NewInt(int64(n*1000) + int64(i)), GasPrice: big.NewInt(1), Gas: big.NewInt(300000000),
			BlockLimit: big.NewInt(int64(n + 500)), To: &to, Value: new(big.Int), Data: []byte{byte(i), 0xde, 0xad},
			ChainID: big.NewInt(1), GroupID: big.NewInt(1)}
		if err := tx.Sign(c.s, c.user); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
		rs = append(rs, &block.Receipt{StateRoot: h.StateRoot, GasUsed: big.NewInt(21000), Output: []byte{}})
	}
	blk, err := block.Assemble(c.s, h, txs, rs, block.MerkleRoots)
	if err != nil {
		t.Fatal(err)
	}
	if o.tamper != nil {
		o.tamper(blk)
		blk.Header.Invalidate()
		blk.BlockHash = blk.Header.Hash(c.s)
	}
	signers := o.signers
	if signers == nil {
		q := len(c.active) - (len(c.active)-1)/3
		for i := range q {
			signers = append(signers, i)
		}
	}
	for _, pos := range signers {
		if err := blk.Sign(c.s, uint64(pos), c.sealers[c.active[pos]]); err != nil {
			t.Fatal(err)
		}
	}
	var extra []binlog.Table
	if len(o.consensus) > 0 {
		tb := binlog.Table{Name: "_sys_consensus_", Fields: consensusFields}
		if o.consensusDirty {
			tb.Dirty = o.consensus
		} else {
			tb.New = o.consensus
		}
		extra = append(extra, tb)
	}
	return c.record(blk, extra...), blk
}

// record wraps a block in the rows a node writes for it and returns the record as read back
// from its encoding (so Raw and CRC are real).
func (c *sim) record(blk *block.Block, extra ...binlog.Table) *binlog.Record {
	t := c.t
	raw, err := blk.Encode()
	if err != nil {
		t.Fatal(err)
	}
	n := blk.Header.Number
	hash := hex.EncodeToString(blk.BlockHash[:])
	newID := func() uint64 { c.id++; return c.id }
	tables := append([]binlog.Table(nil), extra...)
	tables = append(tables,
		binlog.Table{Name: "_sys_hash_2_block_", Fields: []string{"hash", "value", "_status_", "_num_", "_id_"},
			New: []binlog.Entry{binlog.NewEntry(newID(), 0, []binlog.Value{val(hash), {Data: raw, Set: true}})}},
		binlog.Table{Name: "_sys_number_2_hash_", Fields: []string{"number", "value", "_status_", "_num_", "_id_"},
			New: []binlog.Entry{binlog.NewEntry(newID(), 0, []binlog.Value{val(strconv.FormatUint(n, 10)), val(hash)})}})
	if len(blk.Transactions) > 0 {
		tb := binlog.Table{Name: "_sys_tx_hash_2_block_", Fields: []string{"hash", "value", "index", "_status_", "_num_", "_id_"}}
		for i, tx := range blk.Transactions {
			th := tx.Hash(c.s)
			tb.New = append(tb.New, binlog.NewEntry(newID(), 0, []binlog.Value{val(hex.EncodeToString(th[:])), val(strconv.FormatUint(n, 10)), val(strconv.Itoa(i))}))
		}
		tables = append(tables, tb)
	}
	c.prev = blk.BlockHash
	c.next = n + 1
	return reread(t, &binlog.Record{BlockNumber: n, Tables: tables})
}

// reread encodes a record and reads it back.
func reread(t testing.TB, rec *binlog.Record) *binlog.Record {
	t.Helper()
	b, err := binlog.AppendRecord(binlog.AppendHeader(nil), rec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := binlog.NewReader(bytes.NewReader(b), binlog.Options{}).Next()
	if err != nil {
		t.Fatal(err)
	}
	return back
}
