package chain

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/evm"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/tables"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"
)

// Tx is a transaction admitted for sealing: decoded, its hash and sender known.
type Tx struct {
	Tx     *block.Transaction
	Hash   common.Hash
	Sender common.Address
}

// GenesisMark returns the group genesis mark the genesis header carries in extraData
// (LedgerParam::generateGenesisMark): group, the sealer node ids in configuration order each
// followed by a comma, consensus and state type, then (by version) the EVM flags, the tx count
// and gas limits and the consensus timeout.
func (c *Chain) GenesisMark() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d-", c.p.GroupID)
	for _, k := range c.p.Sealers {
		b.WriteString(k.PublicKey().String())
		b.WriteByte(',')
	}
	b.WriteString("-pbft-storage-")
	if c.p.Version.AtLeast(V2_4_0) {
		b.WriteString("0-")
	}
	fmt.Fprintf(&b, "%d-%d", c.p.TxCountLimit, c.p.TxGasLimit)
	if c.p.Version.AtLeast(V2_6_0) {
		fmt.Fprintf(&b, "-%d", DefaultConsensusTimeout)
	}
	return b.String()
}

// storedBytes encodes a block or nonce list for the storage tables: raw from 2.2.0, "0x"+hex
// before (BlockChainImp::writeBytesToField).
func (c *Chain) storedBytes(b []byte) []byte {
	if c.p.Version.AtLeast(V2_2_0) {
		return b
	}
	return []byte("0x" + common.Bytes2Hex(b))
}

func hexNo0x(h common.Hash) []byte { return []byte(common.Bytes2Hex(h[:])) }

func decimal(n uint64) []byte { return strconv.AppendUint(nil, n, 10) }

// genesis builds block 0 and the record of the rows the node writes when it creates it.
func (c *Chain) genesis() (blk *block.Block, raw []byte, rec *binlog.Record, err error) {
	if blk, raw, err = c.genesisBlock(); err != nil {
		return nil, nil, nil, err
	}
	b := c.store.Batch(0)
	put := func(table, key string, values ...[]byte) {
		if err == nil {
			err = b.Put(table, key, values...)
		}
	}
	zero := []byte("0")
	if c.p.Version.AtLeast(V2_6_0) {
		put(tables.SysConfig, "consensus_timeout", decimal(DefaultConsensusTimeout), zero)
	}
	put(tables.SysConfig, "tx_count_limit", decimal(c.p.TxCountLimit), zero)
	put(tables.SysConfig, "tx_gas_limit", decimal(c.p.TxGasLimit), zero)
	for _, id := range c.sealers {
		put(tables.SysConsensus, "node", []byte("sealer"), []byte(id.String()), zero)
	}
	put(tables.SysCurrentState, tables.KeyCurrentNumber, zero)
	put(tables.SysHash2Block, string(hexNo0x(blk.BlockHash)), c.storedBytes(raw))
	put(tables.SysNumber2Hash, "0", hexNo0x(blk.BlockHash))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("write genesis rows: %w", err)
	}
	return blk, raw, b.Commit(c.p.BinlogFormat), nil
}

// genesisBlock builds block 0: the group's genesis timestamp and mark, no sealers, zero roots.
func (c *Chain) genesisBlock() (*block.Block, []byte, error) {
	h := &block.Header{
		Timestamp: c.p.GenesisTime,
		ExtraData: [][]byte{[]byte(c.GenesisMark())},
	}
	blk := &block.Block{Header: h, BlockHash: h.Hash(c.p.Suite)}
	raw, err := blk.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("encode genesis block: %w", err)
	}
	return blk, raw, nil
}

// Seal executes txs as block head+1 with timestamp ts (raised to parent+1 ms if needed),
// signs it with 2f+1 sealers, writes its binlog record to the sink and commits it.
func (c *Chain) Seal(txs []*Tx, ts uint64) (*Sealed, error) {
	if len(txs) == 0 {
		return nil, ErrEmptyBlock
	}
	c.sealMu.Lock()
	defer c.sealMu.Unlock()

	parent := c.Head()
	number := parent.Number() + 1
	if ts <= parent.Block.Header.Timestamp {
		ts = parent.Block.Header.Timestamp + 1
	}
	ctx := evm.BlockContext{Number: int64(number), Timestamp: int64(ts), GasLimit: c.p.TxGasLimit, GetHash: func(n uint64) common.Hash {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return c.hashOfLocked(n)
	}}
	eb, err := c.ex.NewBlock(c.state, ctx)
	if err != nil {
		return nil, fmt.Errorf("execute block %d: %w", number, err)
	}

	v29 := c.p.Version.AtLeast(V2_9_0)
	receipts := make([]*block.Receipt, len(txs))
	var cumulative uint64
	failed := uint64(0)
	for i, t := range txs {
		msg := evm.Message{From: t.Sender, To: t.Tx.To, Data: t.Tx.Data, Gas: gasOf(t.Tx), GasPrice: t.Tx.GasPrice, Value: t.Tx.Value}
		res := eb.Apply(msg)
		if res.Status != evm.StatusNone {
			failed++
		}
		r := &block.Receipt{ContractAddress: res.ContractAddress, Status: res.Status, Output: res.Output, HasRemainGas: v29}
		for _, l := range res.Logs {
			r.Logs = append(r.Logs, block.Log{Address: l.Address, Topics: l.Topics, Data: l.Data})
		}
		r.Bloom = block.LogsBloom(c.p.Suite, r.Logs)
		cumulative += res.GasUsed
		if v29 {
			r.GasUsed = new(big.Int).SetUint64(res.GasUsed)
			r.RemainGas = new(big.Int).SetUint64(msg.Gas - res.GasUsed)
		} else {
			r.GasUsed = new(big.Int).SetUint64(cumulative) // cumulative within the block before 2.9.0
		}
		receipts[i] = r
	}

	changes := eb.Changes(!c.p.Version.AtLeast(V2_5_0))
	stateRoot := c.stateRoot(changes)
	for _, r := range receipts {
		r.StateRoot = stateRoot
	}
	h := &block.Header{
		ParentHash: parent.Hash,
		StateRoot:  stateRoot,
		DBHash:     stateRoot,
		Number:     number,
		Timestamp:  ts,
		Sealer:     number % uint64(len(c.sealers)),
		SealerList: c.sealers,
	}
	btxs := make([]*block.Transaction, len(txs))
	hashes := make([]common.Hash, len(txs))
	for i, t := range txs {
		btxs[i], hashes[i] = t.Tx, t.Hash
	}
	// The transaction hashes are known already; block.Assemble would hash every transaction
	// again, which is a tenth of bulk sealing.
	if c.rule == block.MerkleRoots {
		h.TransactionsRoot = block.MerkleRoot(c.p.Suite, hashes)
	} else if h.TransactionsRoot, err = block.TransactionsRoot(c.p.Suite, btxs, c.rule); err != nil {
		return nil, fmt.Errorf("compute transactions root of block %d: %w", number, err)
	}
	h.ReceiptsRoot = block.ReceiptsRoot(c.p.Suite, receipts, c.rule)
	blk := &block.Block{Header: h, Transactions: btxs, BlockHash: h.Hash(c.p.Suite), Receipts: receipts}
	if err := c.sign(blk); err != nil {
		return nil, err
	}
	raw, err := blk.Encode()
	if err != nil {
		return nil, err
	}

	sealed := &Sealed{Block: blk, Raw: raw, Hash: blk.BlockHash, TxHashes: make([]common.Hash, len(txs)), Senders: make([]common.Address, len(txs))}
	for i, t := range txs {
		sealed.TxHashes[i], sealed.Senders[i] = t.Hash, t.Sender
	}

	c.mu.RLock()
	total, failedTotal := c.totalTx+uint64(len(txs)), c.failedTx+failed
	c.mu.RUnlock()
	rec, err := c.rows(sealed, changes, total, failedTotal)
	if err != nil {
		return nil, err
	}
	if err := c.sink.WriteRecord(rec); err != nil {
		return nil, fmt.Errorf("write binlog record of block %d: %w", number, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	eb.Commit()
	c.totalTx, c.failedTx = total, failedTotal
	c.publish(sealed)
	c.pool.removeIncluded(txs)
	return sealed, nil
}

func gasOf(t *block.Transaction) uint64 {
	if t.Gas == nil || !t.Gas.IsUint64() {
		return 0
	}
	return t.Gas.Uint64()
}

// stateRoot digests the state rows a block changed. The node's value (a hash over the dirty
// storage tables) cannot be recomputed by anyone without its storage; verifiers treat it as
// opaque, so any deterministic digest of the change-set serves. No change gives zero, as on
// real chains.
func (c *Chain) stateRoot(changes []evm.AccountChange) common.Hash {
	if len(changes) == 0 {
		return common.Hash{}
	}
	var parts [][]byte
	for _, ch := range changes {
		parts = append(parts, []byte(ch.Table()))
		for _, r := range ch.Rows {
			parts = append(parts, []byte(r.Key), r.Value)
		}
	}
	return c.p.Suite.Hash(parts...)
}

// signers picks the 2f+1 sealers (n - f with f = (n-1)/3) that sign block number: the proposer
// and a seeded choice of the others, in a seeded order (real blocks list them in arrival
// order).
func (c *Chain) signers(number uint64) []uint64 {
	n := uint64(len(c.sealers))
	need := n - (n-1)/3
	rng := rand.New(rand.NewPCG(uint64(c.p.Seed), number))
	proposer := number % n
	others := make([]uint64, 0, n-1)
	for i := range n {
		if i != proposer {
			others = append(others, i)
		}
	}
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	out := append([]uint64{proposer}, others[:need-1]...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (c *Chain) sign(blk *block.Block) error {
	number := blk.Header.Number
	for _, idx := range c.signers(number) {
		if err := blk.Sign(c.p.Suite, idx, c.keys[idx]); err != nil {
			return err
		}
	}
	if c.p.ForgeSignatureAt[number] {
		// A real signature by the same sealer over a different hash: well-formed, wrong.
		other := c.p.Suite.Hash(blk.BlockHash[:], []byte("forged"))
		sig, err := c.p.Suite.Sign(c.keys[blk.Signatures[0].Index], other)
		if err != nil {
			return fmt.Errorf("forge signature of block %d: %w", number, err)
		}
		blk.Signatures[0].Signature = sig
	}
	return nil
}

// rows builds the binlog record of a sealed block: the contract tables it changed, the table
// registry rows of new accounts and the ledger rows BlockChainImp::commitBlock writes.
func (c *Chain) rows(s *Sealed, changes []evm.AccountChange, total, failed uint64) (rec *binlog.Record, err error) {
	number := s.Number()
	b := c.store.Batch(number)
	put := func(table, key string, values ...[]byte) {
		if err == nil {
			err = b.Put(table, key, values...)
		}
	}
	for _, ch := range changes {
		name := ch.Table()
		c.store.Define(tables.ContractDef(name))
		if ch.Created {
			put(tables.SysTables, name, []byte("key"), []byte("value"))
		}
		for _, r := range ch.Rows {
			put(name, r.Key, r.Value)
		}
	}
	nonces := make([]*big.Int, len(s.Block.Transactions))
	for i, t := range s.Block.Transactions {
		nonces[i] = t.Nonce
		if nonces[i] == nil {
			nonces[i] = new(big.Int)
		}
	}
	nonceList, err := rlp.EncodeToBytes(nonces)
	if err != nil {
		return nil, fmt.Errorf("encode nonces of block %d: %w", number, err)
	}
	put(tables.SysBlock2Nonces, string(decimal(number)), c.storedBytes(nonceList))
	put(tables.SysCurrentState, tables.KeyCurrentNumber, decimal(number))
	put(tables.SysCurrentState, tables.KeyTotalTxCount, decimal(total))
	put(tables.SysCurrentState, tables.KeyTotalFailedTxes, decimal(failed))
	put(tables.SysHash2Block, string(hexNo0x(s.Hash)), c.storedBytes(s.Raw))
	if c.p.Version.AtLeast(V2_6_0) {
		put(tables.SysHash2Header, string(hexNo0x(s.Hash)), s.Block.Header.Bytes(), block.EncodeSigList(s.Block.Signatures))
	}
	put(tables.SysNumber2Hash, string(decimal(number)), hexNo0x(s.Hash))
	for i, h := range s.TxHashes {
		put(tables.SysTxHash2Block, string(hexNo0x(h)), decimal(number), decimal(uint64(i)))
	}
	if err != nil {
		return nil, fmt.Errorf("write rows of block %d: %w", number, err)
	}
	return b.Commit(c.p.BinlogFormat), nil
}
