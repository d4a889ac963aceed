package block_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rlp"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func enc(t *testing.T, v any) []byte {
	t.Helper()
	b, err := rlp.EncodeToBytes(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// txItems returns the 13 items of a valid ECDSA transaction, to be altered one at a time.
func txItems() []any {
	to := common.HexToAddress("0x8c17cf316c1063ab6c89df875e96c9f0f5b2f744")
	return []any{uint64(1), uint64(10), uint64(30000000), uint64(600), to, uint64(0), []byte{1, 2},
		uint64(1), uint64(1), []byte{}, uint64(27), big.NewInt(5), big.NewInt(6)}
}

func withItem(items []any, i int, v any) []any {
	out := append([]any(nil), items...)
	out[i] = v
	return out
}

func TestDecodeTransactionRejectsMalformed(t *testing.T) {
	good := txItems()
	if _, err := block.DecodeTransaction(enc(t, good)); err != nil {
		t.Fatalf("valid transaction: %v", err)
	}
	tests := []struct {
		name  string
		input []byte
		field string
	}{
		{"12 items", enc(t, good[:12]), "(list)"},
		{"14 items", enc(t, append(good, uint64(0))), "(list)"},
		{"not a list", enc(t, []byte("tx")), "(list)"},
		{"trailing byte", append(enc(t, good), 0x80), "(list)"},
		{"nonce leading zero", enc(t, withItem(good, 0, []byte{0, 1})), "nonce"},
		{"nonce as 0x00 byte", enc(t, withItem(good, 0, []byte{0})), "nonce"},
		{"gas over 256 bits", enc(t, withItem(good, 2, bytes.Repeat([]byte{1}, 33))), "gas"},
		{"to of 19 bytes", enc(t, withItem(good, 4, make([]byte, 19))), "to"},
		{"data as a list", enc(t, withItem(good, 6, []uint64{1})), "data"},
		{"s as a list", enc(t, withItem(good, 12, []uint64{1})), "s"},
		{"non-canonical size", []byte{0xb8, 0x01, 0x00}, "(list)"},
		{"empty input", nil, "(list)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := block.DecodeTransaction(tt.input)
			var fe *block.FieldError
			if !errors.Is(err, block.ErrMalformed) || !errors.As(err, &fe) {
				t.Fatalf("DecodeTransaction = %v, want a FieldError wrapping ErrMalformed", err)
			}
			if fe.Type != "transaction" || fe.Field != tt.field {
				t.Errorf("error names %s %s, want transaction %s (%v)", fe.Type, fe.Field, tt.field, err)
			}
		})
	}
}

func TestDecodeHeaderAndReceiptRejectMalformed(t *testing.T) {
	h := (&block.Header{}).Encode()
	r := (&block.Receipt{}).Encode()
	var items []rlp.RawValue
	if err := rlp.DecodeBytes(h, &items); err != nil {
		t.Fatal(err)
	}
	var ritems []rlp.RawValue
	if err := rlp.DecodeBytes(r, &ritems); err != nil {
		t.Fatal(err)
	}
	replace := func(items []rlp.RawValue, i int, v any) []byte {
		out := append([]rlp.RawValue(nil), items...)
		out[i] = enc(t, v)
		return enc(t, out)
	}
	tests := []struct {
		name   string
		decode func([]byte) error
		input  []byte
		typ    string
		field  string
	}{
		{"header hash of 31 bytes", decodeHeaderErr, replace(items, 0, make([]byte, 31)), "header", "parentHash"},
		{"header bloom of 255 bytes", decodeHeaderErr, replace(items, 5, make([]byte, 255)), "header", "logsBloom"},
		{"header number over 64 bits", decodeHeaderErr, replace(items, 6, bytes.Repeat([]byte{1}, 9)), "header", "number"},
		{"header extraData not a list", decodeHeaderErr, replace(items, 10, []byte("genesis")), "header", "extraData"},
		{"header extraData holds a list", decodeHeaderErr, replace(items, 10, [][]uint64{{1}}), "header", "extraData"},
		{"header node id of 65 bytes", decodeHeaderErr, replace(items, 12, [][]byte{make([]byte, 65)}), "header", "sealerList"},
		{"header 12 items", decodeHeaderErr, enc(t, items[:12]), "header", "(list)"},
		{"receipt 6 items", decodeReceiptErr, enc(t, ritems[:6]), "receipt", "(list)"},
		{"receipt 9 items", decodeReceiptErr, enc(t, append(append([]rlp.RawValue(nil), ritems...), enc(t, uint64(1)), enc(t, uint64(1)))), "receipt", "(list)"},
		{"receipt address of 0 bytes", decodeReceiptErr, replace(ritems, 2, []byte{}), "receipt", "contractAddress"},
		{"receipt log with 2 items", decodeReceiptErr, replace(ritems, 6, []any{[]any{common.Address{}, []common.Hash{}}}), "receipt", "logs"},
		{"receipt topic of 20 bytes", decodeReceiptErr, replace(ritems, 6, []any{[]any{common.Address{}, [][]byte{make([]byte, 20)}, []byte{}}}), "receipt", "logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(tt.input)
			var fe *block.FieldError
			if !errors.Is(err, block.ErrMalformed) || !errors.As(err, &fe) {
				t.Fatalf("decode = %v, want a FieldError wrapping ErrMalformed", err)
			}
			if fe.Type != tt.typ || fe.Field != tt.field {
				t.Errorf("error names %s %s, want %s %s (%v)", fe.Type, fe.Field, tt.typ, tt.field, err)
			}
		})
	}
}

func decodeHeaderErr(b []byte) error  { _, err := block.DecodeHeader(b); return err }
func decodeReceiptErr(b []byte) error { _, err := block.DecodeReceipt(b); return err }

func TestDecodeTransactionsRejectsBadOffsetTables(t *testing.T) {
	tx := enc(t, txItems())
	table := func(n uint32, offsets ...uint32) []byte {
		b := binary.LittleEndian.AppendUint32(nil, n)
		for _, o := range offsets {
			b = binary.LittleEndian.AppendUint32(b, o)
		}
		return b
	}
	l := uint32(len(tx))
	good := append(table(1, 0, l), tx...)
	if txs, err := block.DecodeTransactions(good); err != nil || len(txs) != 1 {
		t.Fatalf("valid table: %d txs, %v", len(txs), err)
	}
	tests := map[string][]byte{
		"count 0 but not empty":     table(0, 0),
		"3 bytes":                   {1, 0, 0},
		"offsets cut short":         table(2, 0),
		"first offset not 0":        append(table(1, 1, l), tx...),
		"last offset short":         append(table(1, 0, l-1), tx...),
		"last offset long":          append(append(table(1, 0, l), tx...), 0),
		"big-endian count":          append(binary.BigEndian.AppendUint32(nil, 1), append(table(0, 0, l)[4:], tx...)...),
		"offsets out of order":      append(append(table(2, 0, l+1, l), tx...), 0x80),
		"tx split across the table": append(table(2, 0, 3, l), tx...),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := block.DecodeTransactions(in); !errors.Is(err, block.ErrMalformed) {
				t.Errorf("DecodeTransactions = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeBlockRejectsMalformed(t *testing.T) {
	b, raw := decodeFixture(t, block22File)
	var items []rlp.RawValue
	if err := rlp.DecodeBytes(raw, &items); err != nil {
		t.Fatal(err)
	}
	replace := func(i int, v any) []byte {
		out := append([]rlp.RawValue(nil), items...)
		out[i] = enc(t, v)
		return enc(t, out)
	}
	tests := map[string][]byte{
		"4 items":               enc(t, items[:4]),
		"header not a list":     replace(0, []byte("header")),
		"txs as a list":         replace(1, []uint64{}),
		"hash of 20 bytes":      replace(2, make([]byte, 20)),
		"sig entry of 3 items":  replace(3, []any{[]any{uint64(0), b.Signatures[0].Signature, uint64(1)}}),
		"sig entry of 1 item":   replace(3, []any{[]any{uint64(0)}}),
		"sig index leading 0":   replace(3, []any{[]any{[]byte{0, 1}, b.Signatures[0].Signature}}),
		"receipt not a list":    replace(4, []any{[]byte("receipt")}),
		"trailing after block":  append(append([]byte(nil), raw...), 0xc0),
		"truncated by one byte": raw[:len(raw)-1],
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := block.DecodeBlock(in); !errors.Is(err, block.ErrMalformed) {
				t.Errorf("DecodeBlock = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSigListCodec(t *testing.T) {
	b, _ := decodeFixture(t, block22File)
	list := block.EncodeSigList(b.Signatures)
	got, err := block.DecodeSigList(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Index != 2 || !bytes.Equal(got[2].Signature, b.Signatures[2].Signature) {
		t.Errorf("DecodeSigList = %+v", got)
	}
	want := enc(t, []any{
		[]any{uint64(2), b.Signatures[0].Signature},
		[]any{uint64(0), b.Signatures[1].Signature},
		[]any{uint64(3), b.Signatures[2].Signature},
	})
	if !bytes.Equal(list, want) {
		t.Error("EncodeSigList differs from go-ethereum rlp")
	}
	if _, err := block.DecodeSigList(append(list, 0)); !errors.Is(err, block.ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
	if err := (&block.Block{Header: b.Header, BlockHash: b.BlockHash, Signatures: got}).VerifySignatures(cryptosuite.ECDSA()); err != nil {
		t.Error(err)
	}
}
