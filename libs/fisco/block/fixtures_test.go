package block_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/libs/fixtures"
)

// Block RLP vectors in fixtures/binlog (see its README for the facts asserted here).
const (
	block22File = "rlp-block22-samplechain.hex"
	block3File  = "rlp-block3-rc2-roots.hex"
	genesisFile = "rlp-block0-genesis-otherchain.hex"
)

func readHexFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(string(fixtures.Read(t, "binlog", name))))
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return b
}

func decodeFixture(t testing.TB, name string) (*block.Block, []byte) {
	t.Helper()
	raw := readHexFixture(t, name)
	b, err := block.DecodeBlock(raw)
	if err != nil {
		t.Fatalf("DecodeBlock(%s): %v", name, err)
	}
	return b, raw
}

func TestFixtureBlocks(t *testing.T) {
	ecdsa := cryptosuite.ECDSA()
	tests := []struct {
		file         string
		size         int
		number       uint64
		hash         string
		parentPrefix string // README gives parent hashes abbreviated
		parentSuffix string
		txs          int
		receipts     int
		logs         []int // per receipt, when the README states it
		sigs         int
		sigIndexes   []uint64
		rule         block.RootRule
		otherRule    block.RootRule
	}{
		{
			file: block22File, size: 8705, number: 22,
			hash:         "85621e42f7cab5d92ee2e816579af3091931c37b6e8f9b2d68525fb31b39d86b",
			parentPrefix: "505ad4a9", parentSuffix: "69aa04",
			txs: 1, receipts: 1, logs: []int{1}, sigs: 3, sigIndexes: []uint64{2, 0, 3},
			rule: block.MerkleRoots, otherRule: block.RC2Roots,
		},
		{
			file: block3File, size: 1954, number: 3,
			hash: "be75bbeb1aac1f2c9c614b176589fc2306f05572fc369356075d76619a0b2dd6",
			txs:  -1, receipts: -1, sigs: 3, // the README gives no counts: cross-checked below
			rule: block.RC2Roots, otherRule: block.MerkleRoots,
		},
		{
			file: genesisFile, size: 1030, number: 0,
			hash:         "e50403bd5d4cb29660e54ee59b5c5b24a6d7397dbe436ade5248018f07cfbf82",
			parentPrefix: "00000000", parentSuffix: "000000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, raw := decodeFixture(t, tt.file)
			if len(raw) != tt.size {
				t.Fatalf("fixture is %d bytes, README says %d", len(raw), tt.size)
			}
			if b.Header.Number != tt.number {
				t.Errorf("number = %d, want %d", b.Header.Number, tt.number)
			}
			if got := b.Header.Hash(ecdsa); hex.EncodeToString(got[:]) != tt.hash {
				t.Errorf("header hash = %x, want %s", got, tt.hash)
			}
			if hex.EncodeToString(b.BlockHash[:]) != tt.hash {
				t.Errorf("stored block hash = %x, want %s", b.BlockHash, tt.hash)
			}
			if err := b.VerifyHash(ecdsa); err != nil {
				t.Error(err)
			}
			parent := hex.EncodeToString(b.Header.ParentHash[:])
			if !strings.HasPrefix(parent, tt.parentPrefix) || !strings.HasSuffix(parent, tt.parentSuffix) {
				t.Errorf("parentHash = %s, want %s…%s", parent, tt.parentPrefix, tt.parentSuffix)
			}
			wantTxs, wantReceipts := countsByGoEthereum(t, raw)
			if tt.txs >= 0 && (tt.txs != wantTxs || tt.receipts != wantReceipts) {
				t.Fatalf("README counts %d/%d differ from the raw counts %d/%d", tt.txs, tt.receipts, wantTxs, wantReceipts)
			}
			if len(b.Transactions) != wantTxs || len(b.Receipts) != wantReceipts {
				t.Fatalf("%d txs and %d receipts, want %d and %d", len(b.Transactions), len(b.Receipts), wantTxs, wantReceipts)
			}
			for i, r := range b.Receipts {
				if tt.logs != nil && len(r.Logs) != tt.logs[i] {
					t.Errorf("receipt %d has %d logs, want %d", i, len(r.Logs), tt.logs[i])
				}
				if r.HasRemainGas {
					t.Errorf("receipt %d decoded as 8-field; the fixture chains predate 2.9.0", i)
				}
				if r.Bloom != r.ComputeBloom(ecdsa) {
					t.Errorf("receipt %d bloom does not match its logs", i)
				}
				if r.StateRoot != b.Header.StateRoot {
					t.Errorf("receipt %d stateRoot differs from the header's", i)
				}
			}
			var idx []uint64
			for _, s := range b.Signatures {
				idx = append(idx, s.Index)
				if len(s.Signature) != cryptosuite.ECDSASignatureLen {
					t.Errorf("signature of %d bytes", len(s.Signature))
				}
			}
			if len(idx) != tt.sigs || (tt.sigIndexes != nil && !equalU64(idx, tt.sigIndexes)) {
				t.Errorf("signature indexes = %v, want %v", idx, tt.sigIndexes)
			}
			if err := b.VerifySignatures(ecdsa); err != nil {
				t.Errorf("VerifySignatures: %v", err)
			}
			for i, tx := range b.Transactions {
				if _, err := tx.Sender(ecdsa); err != nil {
					t.Errorf("tx %d sender: %v", i, err)
				}
				if tx.BlockLimit.Uint64() < b.Header.Number {
					t.Errorf("tx %d blockLimit %d below the block number", i, tx.BlockLimit)
				}
			}
			if tt.number > 0 {
				if err := b.VerifyRoots(ecdsa, tt.rule); err != nil {
					t.Errorf("roots under the %s rule: %v", tt.rule, err)
				}
				if err := b.VerifyRoots(ecdsa, tt.otherRule); err == nil {
					t.Errorf("roots also match the %s rule", tt.otherRule)
				}
			}
			enc, err := b.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, raw) {
				t.Errorf("re-encoding differs from the fixture (%d vs %d bytes)", len(enc), len(raw))
			}
		})
	}
}

// Re-encoding from the fields (not the remembered bytes) reproduces each part exactly: the
// decoder accepts only canonical encodings.
func TestFixturePartsReencodeFromFields(t *testing.T) {
	for _, f := range []string{block22File, block3File, genesisFile} {
		t.Run(f, func(t *testing.T) {
			b, _ := decodeFixture(t, f)
			if !bytes.Equal(b.Header.Encode(), b.Header.Bytes()) {
				t.Error("header")
			}
			for i, tx := range b.Transactions {
				if !bytes.Equal(tx.Encode(), tx.Bytes()) {
					t.Errorf("tx %d", i)
				}
			}
			for i, r := range b.Receipts {
				if !bytes.Equal(r.Encode(), r.Bytes()) {
					t.Errorf("receipt %d", i)
				}
			}
		})
	}
}

func TestGenesisFixtureCarriesGenesisMark(t *testing.T) {
	b, _ := decodeFixture(t, genesisFile)
	if len(b.Transactions) != 0 || len(b.Signatures) != 0 || len(b.Receipts) != 0 {
		t.Errorf("genesis has %d txs, %d sigs, %d receipts", len(b.Transactions), len(b.Signatures), len(b.Receipts))
	}
	if b.Header.TransactionsRoot != (common.Hash{}) || b.Header.ReceiptsRoot != (common.Hash{}) {
		t.Error("genesis roots are not zero")
	}
	if len(b.Header.ExtraData) != 1 {
		t.Fatalf("%d extraData items, want 1", len(b.Header.ExtraData))
	}
	// "<group>-<node ids joined with ','>,-<consensus>-<storage>-<tx_count_limit>-<tx_gas_limit>"
	mark := regexp.MustCompile(`^1-(?:[0-9a-f]{128},)+-pbft-storage-\d+-\d+$`)
	if !mark.Match(b.Header.ExtraData[0]) {
		t.Errorf("extraData[0] = %q is not a genesis mark", b.Header.ExtraData[0])
	}
}

func TestBlock22ReceiptRootIsMerkleOfReceiptHashes(t *testing.T) {
	s := cryptosuite.ECDSA()
	b, _ := decodeFixture(t, block22File)
	// One leaf: the root is Hash(leaf) with leaf = rlp(0) ‖ Hash(receipt), rlp(0) = 0x80.
	leaf := append([]byte{0x80}, s.Hash(b.Receipts[0].Bytes()).Bytes()...)
	if got := block.ReceiptsRoot(s, b.Receipts, block.MerkleRoots); got != b.Header.ReceiptsRoot {
		t.Errorf("receipts root %x, header %x", got, b.Header.ReceiptsRoot)
	}
	if s.Hash(leaf) != b.Header.ReceiptsRoot {
		t.Errorf("Hash(rlp(0)‖receiptHash) = %x, header %x", s.Hash(leaf), b.Header.ReceiptsRoot)
	}
}

// countsByGoEthereum reads the transaction and receipt counts with go-ethereum's RLP decoder and
// the little-endian count word, independently of package block.
func countsByGoEthereum(t *testing.T, raw []byte) (txs, receipts int) {
	t.Helper()
	var items []rlp.RawValue
	if err := rlp.DecodeBytes(raw, &items); err != nil || len(items) != 5 {
		t.Fatalf("go-ethereum rlp: %d items, %v", len(items), err)
	}
	var txBytes []byte
	if err := rlp.DecodeBytes(items[1], &txBytes); err != nil {
		t.Fatal(err)
	}
	if len(txBytes) >= 4 {
		txs = int(binary.LittleEndian.Uint32(txBytes))
	}
	content, _, err := rlp.SplitList(items[4])
	if err != nil {
		t.Fatal(err)
	}
	if receipts, err = rlp.CountValues(content); err != nil {
		t.Fatal(err)
	}
	return txs, receipts
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
