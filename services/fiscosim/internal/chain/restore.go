package chain

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/tables"
	"github.com/ethereum/go-ethereum/common"
)

// ErrOtherChain reports binlog records of a chain other than the one the parameters describe
// (another seed, sealer count, version, crypto family or genesis time).
var ErrOtherChain = errors.New("binlog holds another chain")

// Records yields binlog records in order and io.EOF after the last; *binlog.Reader fits.
type Records interface {
	Next() (*binlog.Record, error)
}

// Restore rebuilds a chain from the binlog records an earlier run wrote, as a restarted node
// recovers from its binlog: blocks from _sys_hash_2_block_, row ids and the id counter, the
// transaction counters, and the world state from the account tables. New blocks continue the
// chain and their records go to sink. The first record must be this chain's genesis.
func Restore(p Params, sink Sink, src Records) (*Chain, error) {
	c, err := newChain(p, sink)
	if err != nil {
		return nil, err
	}
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restore chain: %w", err)
		}
		if err := c.importRecord(rec); err != nil {
			return nil, err
		}
	}
	if c.head == nil {
		return nil, fmt.Errorf("restore chain: %w: no records", ErrOtherChain)
	}
	return c, nil
}

func (c *Chain) importRecord(rec *binlog.Record) error {
	want := uint64(0)
	if c.head != nil {
		want = c.head.Number() + 1
	}
	if rec.BlockNumber != want {
		return fmt.Errorf("restore block %d: %w: expected block %d", rec.BlockNumber, ErrOtherChain, want)
	}
	tb := rec.Table(tables.SysHash2Block)
	if tb == nil || len(tb.New) != 1 {
		return fmt.Errorf("restore block %d: %w: no single %s row", rec.BlockNumber, ErrOtherChain, tables.SysHash2Block)
	}
	raw, _ := tb.Value(&tb.New[0], "value")
	if v, ok := bytes.CutPrefix(raw, []byte("0x")); ok {
		var err error
		if raw, err = hex.DecodeString(string(v)); err != nil {
			return fmt.Errorf("restore block %d: decode hex block: %w", rec.BlockNumber, err)
		}
	}
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		return fmt.Errorf("restore block %d: %w", rec.BlockNumber, err)
	}
	hash := blk.Header.Hash(c.p.Suite)
	if rec.BlockNumber == 0 {
		mine, _, err := c.genesisBlock()
		if err != nil {
			return err
		}
		if mine.BlockHash != hash {
			return fmt.Errorf("restore: %w: genesis %s, these parameters give %s", ErrOtherChain, hash.Hex(), mine.BlockHash.Hex())
		}
	} else if blk.Header.ParentHash != c.head.Hash {
		return fmt.Errorf("restore block %d: %w: parent %s, block %d is %s", rec.BlockNumber, ErrOtherChain, blk.Header.ParentHash.Hex(), rec.BlockNumber-1, c.head.Hash.Hex())
	}
	if err := c.store.Replay(rec); err != nil {
		return err
	}
	hexCode := !c.p.Version.AtLeast(V2_5_0)
	for i := range rec.Tables {
		t := &rec.Tables[i]
		switch {
		case strings.HasPrefix(t.Name, "c_"):
			b, err := hex.DecodeString(strings.TrimPrefix(t.Name, "c_"))
			if err != nil || len(b) != common.AddressLength {
				continue // not an account table
			}
			addr := common.BytesToAddress(b)
			for _, list := range [][]binlog.Entry{t.Dirty, t.New} {
				for j := range list {
					v, _ := t.Value(&list[j], "value")
					if err := c.state.RestoreRow(addr, string(t.Key(&list[j])), v, hexCode); err != nil {
						return fmt.Errorf("restore block %d: %w", rec.BlockNumber, err)
					}
				}
			}
		case t.Name == tables.SysCurrentState:
			for _, list := range [][]binlog.Entry{t.Dirty, t.New} {
				for j := range list {
					v, _ := t.Value(&list[j], "value")
					n, _ := strconv.ParseUint(string(v), 10, 64)
					switch string(t.Key(&list[j])) {
					case tables.KeyTotalTxCount:
						c.totalTx = n
					case tables.KeyTotalFailedTxes:
						c.failedTx = n
					}
				}
			}
		}
	}
	s := &Sealed{Block: blk, Raw: raw, Hash: hash, TxHashes: make([]common.Hash, len(blk.Transactions)), Senders: make([]common.Address, len(blk.Transactions))}
	for i, tx := range blk.Transactions {
		s.TxHashes[i] = tx.Hash(c.p.Suite)
		if s.Senders[i], err = tx.Sender(c.p.Suite); err != nil {
			return fmt.Errorf("restore block %d tx %d: %w", rec.BlockNumber, i, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publish(s)
	return nil
}
