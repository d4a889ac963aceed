package stash_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"

	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/verify"
	"github.com/bcosdata/bcosdata/libs/fixtures"
	"github.com/bcosdata/bcosdata/libs/kafka"
	chainv1 "github.com/bcosdata/bcosdata/proto/bcosdata/chain/v1"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
)

// fixtureCheckpoint21 is the checkpoint of block 21 of 0.binlog, as README.md documents it.
const fixtureCheckpoint21 = "f4b3e0db0ff678afcff0e27763fd12d08497ed68301404f43377bf3d7aac5e75"

// readFixture returns the records of the real 0.binlog.
func readFixture(t *testing.T) (dir string, recs []*binlog.Record) {
	t.Helper()
	path := fixtures.Path(t, "binlog", "0.binlog")
	recs, err := binlog.ReadFile(path, binlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(path), recs
}

// numberToHash returns the block hash a record's _sys_number_2_hash_ row names.
func numberToHash(t *testing.T, rec *binlog.Record) string {
	t.Helper()
	tb := rec.Table("_sys_number_2_hash_")
	if tb == nil || len(tb.New) != 1 {
		t.Fatalf("block %d: no _sys_number_2_hash_ row", rec.BlockNumber)
	}
	v, _ := tb.Value(&tb.New[0], "value")
	return string(v)
}

// rebuildBlock encodes the block RLP from a blocks.v1 message's header, transaction and
// receipt RLP and signatures, as a consumer re-verifying the message would.
func rebuildBlock(t *testing.T, m *chainv1.Block) []byte {
	t.Helper()
	h, err := block.DecodeHeader(m.GetHeader().GetRaw())
	if err != nil {
		t.Fatalf("block %d header raw: %v", m.GetHeader().GetNumber(), err)
	}
	blk := &block.Block{Header: h, BlockHash: [32]byte(m.GetHeader().GetHash())}
	for _, tx := range m.GetTransactions() {
		d, err := block.DecodeTransaction(tx.GetRaw())
		if err != nil {
			t.Fatalf("block %d transaction %d raw: %v", h.Number, tx.GetIndex(), err)
		}
		blk.Transactions = append(blk.Transactions, d)
	}
	for _, r := range m.GetReceipts() {
		d, err := block.DecodeReceipt(r.GetRaw())
		if err != nil {
			t.Fatalf("block %d receipt %d raw: %v", h.Number, r.GetTransactionIndex(), err)
		}
		blk.Receipts = append(blk.Receipts, d)
	}
	for _, s := range m.GetSignatures() {
		blk.Signatures = append(blk.Signatures, block.SigEntry{Index: uint64(s.GetIndex()), Signature: s.GetSignature()})
	}
	raw, err := blk.Encode()
	if err != nil {
		t.Fatalf("encode block %d: %v", h.Number, err)
	}
	return raw
}

// TestFixtureDirectory ingests the real 0.binlog: 22 verified blocks land in PostgreSQL and on
// the blocks topic with the node's hashes, the state topic carries each record's tables, and
// the stored checkpoint chain matches an independent computation from the README's encoding.
func TestFixtureDirectory(t *testing.T) {
	t.Parallel()
	dir, recs := readFixture(t)
	h := newHarness(t)
	cfg := h.config("file://" + dir)
	run := h.start(cfg)
	st := waitStatus(t, run.client, 60*time.Second, "22 blocks published", func(s *stashv1.StatusResponse) bool {
		return s.GetLastPublished() == 21 && s.GetLastVerified() == 21
	})

	run.noFailures(t)
	want := make([]string, len(recs))
	for i, rec := range recs {
		want[i] = numberToHash(t, rec)
	}
	if want[21][:8] != "505ad4a9" {
		t.Fatalf("fixture block 21 hash %s, want the parent of rlp-block22 (505ad4a9…)", want[21])
	}

	t.Run("postgres", func(t *testing.T) {
		rows, err := h.pool.Query(t.Context(), `SELECT number, hash FROM stash.stash_blocks ORDER BY number`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n int64
			var hash []byte
			if err := rows.Scan(&n, &hash); err != nil {
				t.Fatal(err)
			}
			if n != int64(len(got)) {
				t.Fatalf("block row %d where %d was expected", n, len(got))
			}
			got = append(got, hex.EncodeToString(hash))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("stored hashes\n%v\nwant\n%v", got, want)
		}
		var current []byte
		if err := h.pool.QueryRow(t.Context(), `SELECT value FROM stash."_sys_current_state_" WHERE key = 'current_number'`).Scan(&current); err != nil {
			t.Fatal(err)
		}
		if string(current) != "21" {
			t.Errorf("_sys_current_state_ current_number = %q, want 21", current)
		}
		var versions int
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM stash."_sys_current_state_d_" WHERE key = 'current_number'`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if versions != 22 {
			t.Errorf("_sys_current_state_d_ has %d versions of current_number, want one per block (22)", versions)
		}
		var nblocks int
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM stash."_sys_hash_2_block_"`).Scan(&nblocks); err != nil {
			t.Fatal(err)
		}
		if nblocks != 22 {
			t.Errorf("_sys_hash_2_block_ has %d rows, want 22", nblocks)
		}
	})

	t.Run("blocks topic", func(t *testing.T) {
		msgs := h.readTopic(t, "bcos.chain0.group1.blocks.v1", 22)
		for i, m := range msgs {
			n, err := kafka.ParseBlockKey(m.Key)
			if err != nil || n != uint64(i) {
				t.Fatalf("message %d has key %x (%v)", i, m.Key, err)
			}
			b := decodeBlock(t, m)
			if got := hex.EncodeToString(b.GetHeader().GetHash()); got != want[i] {
				t.Errorf("block %d hash %s, want %s", i, got, want[i])
			}
			if !b.GetVerification().GetVerified() {
				t.Errorf("block %d published unverified", i)
			}
			// The message leaves the whole block RLP out because its parts rebuild it exactly.
			if len(b.GetRaw()) != 0 {
				t.Errorf("block %d message carries the whole block RLP (%d bytes) beside its parts", i, len(b.GetRaw()))
			}
			node, err := verify.BlockBytes(recs[i])
			if err != nil {
				t.Fatal(err)
			}
			if got := rebuildBlock(t, b); !bytes.Equal(got, node) {
				t.Errorf("block %d rebuilt from its message's parts differs from the node's block RLP (%d vs %d bytes)", i, len(got), len(node))
			}
			for _, tx := range b.GetTransactions() {
				if len(tx.GetFrom()) != 20 {
					t.Errorf("block %d tx %d has no recovered sender", i, tx.GetIndex())
				}
			}
		}
		if from := hex.EncodeToString(decodeBlock(t, msgs[1]).GetTransactions()[0].GetFrom()); from[:8] != "6c0769ea" {
			t.Errorf("block 1 sender %s, want 6c0769ea… (reference §2.4)", from)
		}
	})

	t.Run("state topic", func(t *testing.T) {
		msgs := h.readTopic(t, "bcos.chain0.group1.state.v1", 22)
		for i, m := range msgs {
			s := decodeState(t, m)
			rec := recs[i]
			if s.GetBlockNumber() != rec.BlockNumber {
				t.Fatalf("state message %d is for block %d", i, s.GetBlockNumber())
			}
			var gotNames []string
			rows := map[string]int{}
			for _, tb := range s.GetTables() {
				gotNames = append(gotNames, tb.GetName())
				rows[tb.GetName()] = len(tb.GetRows())
			}
			var wantNames []string
			for _, tb := range rec.Tables {
				wantNames = append(wantNames, tb.Name)
				if rows[tb.Name] != len(tb.Dirty)+len(tb.New) {
					t.Errorf("block %d table %s: %d rows published, record has %d", i, tb.Name, rows[tb.Name], len(tb.Dirty)+len(tb.New))
				}
			}
			if fmt.Sprint(gotNames) != fmt.Sprint(wantNames) {
				t.Errorf("block %d tables %v, record has %v", i, gotNames, wantNames)
			}
		}
	})

	t.Run("checkpoint", func(t *testing.T) {
		var prev [32]byte
		for _, rec := range recs {
			hash, _ := hex.DecodeString(numberToHash(t, rec))
			d := sha256.Sum256(independentEncoding(rec, hash))
			prev = sha256.Sum256(append(append([]byte("bcosdata.stash.checkpoint.v1"), prev[:]...), d[:]...))
			var stored []byte
			if err := h.pool.QueryRow(t.Context(), `SELECT checkpoint FROM stash.stash_blocks WHERE number = $1`, int64(rec.BlockNumber)).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stored, prev[:]) {
				t.Fatalf("block %d checkpoint %x, independent computation %x", rec.BlockNumber, stored, prev)
			}
		}
		if want := "0x" + hex.EncodeToString(prev[:]); st.GetCheckpoint() != want {
			t.Errorf("Status checkpoint %s, want %s", st.GetCheckpoint(), want)
		}
		// The value README.md quotes for this file.
		if got := hex.EncodeToString(prev[:]); got != fixtureCheckpoint21 {
			t.Errorf("checkpoint of block 21 is %s, README.md says %s", got, fixtureCheckpoint21)
		}
	})
}

// independentEncoding writes the README's canonical encoding straight from a binlog record,
// sharing no code with the service.
func independentEncoding(rec *binlog.Record, hash []byte) []byte {
	var w bytes.Buffer
	u32 := func(v int) { binary.Write(&w, binary.BigEndian, uint32(v)) }
	lp := func(b []byte) { u32(len(b)); w.Write(b) }
	binary.Write(&w, binary.BigEndian, rec.BlockNumber)
	w.Write(hash)
	w.WriteByte(1)
	tables := append([]binlog.Table(nil), rec.Tables...)
	sort.SliceStable(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	u32(len(tables))
	for _, tb := range tables {
		lp([]byte(tb.Name))
		var fields []string
		for _, f := range tb.ValueFields() {
			if (tb.Name == "_sys_hash_2_block_" && f == "value") || (tb.Name == "_sys_hash_2_header_" && f == "sigs") {
				continue
			}
			fields = append(fields, f)
		}
		sort.Strings(fields)
		u32(len(fields))
		for _, f := range fields {
			lp([]byte(f))
		}
		entries := append(append([]binlog.Entry(nil), tb.Dirty...), tb.New...)
		byKey := tb.Name == "_sys_tx_hash_2_block_"
		sort.SliceStable(entries, func(i, j int) bool {
			if byKey {
				return bytes.Compare(tb.Key(&entries[i]), tb.Key(&entries[j])) < 0
			}
			return entries[i].ID < entries[j].ID
		})
		u32(len(entries))
		for k := range entries {
			e := &entries[k]
			id := e.ID
			if byKey {
				id = 0
			}
			binary.Write(&w, binary.BigEndian, id)
			w.WriteByte(e.Status)
			for _, f := range fields {
				v, ok := tb.Value(e, f)
				if !ok {
					w.WriteByte(0)
					continue
				}
				w.WriteByte(1)
				lp(v)
			}
		}
	}
	return w.Bytes()
}
