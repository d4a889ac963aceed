package contract

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// ipfsTail is solc 0.6's trailer: {"ipfs": 34 bytes, "solc": 0.6.10}, then its length 0x33.
func ipfsTail(seed byte) []byte {
	b := []byte{0xa2, 0x64, 'i', 'p', 'f', 's', 0x58, 0x22}
	b = append(b, bytes.Repeat([]byte{seed}, 34)...)
	b = append(b, 0x64, 's', 'o', 'l', 'c', 0x43, 0x00, 0x06, 0x0a)
	return append(b, 0x00, byte(len(b)))
}

// bzzrTail is solc 0.4's trailer: {"bzzr0": 32 bytes}, then its length 0x29.
func bzzrTail(seed byte) []byte {
	b := []byte{0xa1, 0x65, 'b', 'z', 'z', 'r', '0', 0x58, 0x20}
	b = append(b, bytes.Repeat([]byte{seed}, 32)...)
	return append(b, 0x00, byte(len(b)))
}

func TestStripMetadata(t *testing.T) {
	code := []byte{0x60, 0x80, 0x60, 0x40, 0x52, 0x00, 0xfe}
	if got := len(ipfsTail(1)); got != 0x33+2 {
		t.Fatalf("ipfs tail is %d bytes", got)
	}
	if got := len(bzzrTail(1)); got != 0x29+2 {
		t.Fatalf("bzzr tail is %d bytes", got)
	}
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"0.6 ipfs+solc", concat(code, ipfsTail(1)), code},
		{"0.6 other hash", concat(code, ipfsTail(2)), code},
		{"0.4 bzzr0", concat(code, bzzrTail(3)), code},
		{"no metadata", code, code},
		{"length past start", []byte{0x00, 0xff}, []byte{0x00, 0xff}},
		{"not a map", concat(code, []byte{0x01, 0x00, 0x01}), concat(code, []byte{0x01, 0x00, 0x01})},
		{"length disagrees", concat(code, ipfsTail(1)[:0x33], []byte{0x00, 0x32}), concat(code, ipfsTail(1)[:0x33], []byte{0x00, 0x32})},
		{"empty", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stripMetadata(tc.in); !bytes.Equal(got, tc.want) {
				t.Fatalf("stripMetadata = %x, want %x", got, tc.want)
			}
		})
	}
}

// TestSampleMetadata strips the real solc 0.6.10 trailers of the simulator's contracts.
func TestSampleMetadata(t *testing.T) {
	for _, name := range []string{"Asset", "Evidence"} {
		raw, err := os.ReadFile("../../../fiscosim/internal/contracts/" + name + ".bin")
		if err != nil {
			t.Fatal(err)
		}
		code := mustHex(t, string(raw))
		stripped := stripMetadata(code)
		if len(code)-len(stripped) != 0x33+2 || !bytes.HasPrefix(code[len(stripped):], []byte{0xa2, 0x64, 'i', 'p', 'f', 's'}) {
			t.Fatalf("%s: stripped %d bytes", name, len(code)-len(stripped))
		}
	}
}

const ctorABI = `[{"type":"constructor","stateMutability":"nonpayable","inputs":[{"name":"owner","type":"address"},{"name":"cap","type":"uint256"}]}]`

func TestMatchCreation(t *testing.T) {
	code := mustHex(t, "0x608060405234801561001057600080fd5b50")
	other := mustHex(t, "0x608060405234801561001057600080fd5b51")
	y := `contracts:
  - name: Token
    abi: token.json
    bin: token.bin
    learn: true
  - name: Fixed
    abi: token.json
    bin: fixed.bin
    addresses: ["0x00000000000000000000000000000000000000f1"]
  - name: Bare
    abi: token.json
    bin: bare.bin
    learn: true
`
	r := loadTest(t, y, files{
		"token.json": ctorABI,
		"token.bin":  "0x" + hex.EncodeToString(concat(code, ipfsTail(1))) + "\n",
		"fixed.bin":  hex.EncodeToString(concat(other, ipfsTail(1))),
		"bare.bin":   hex.EncodeToString(concat(other, []byte{0xaa})), // no metadata
	}, Keccak)
	owner := common.HexToAddress("0x00000000000000000000000000000000000000c1")
	args := must(r.Contracts()[0].ctor.inputs.Pack(owner, new(big.Int).Lsh(big.NewInt(1), 100)))

	tests := []struct {
		name  string
		input []byte
		want  string // "" for no match
	}{
		{"same metadata", concat(code, ipfsTail(1), args), "Token"},
		{"compiled elsewhere: other ipfs hash", concat(code, ipfsTail(9), args), "Token"},
		{"compiled elsewhere: old bzzr0 trailer", concat(code, bzzrTail(4), args), "Token"},
		{"no arguments", concat(code, ipfsTail(2)), "Token"},
		{"other code", concat(code[:len(code)-1], []byte{0x00}, ipfsTail(1), args), ""},
		{"code without a trailer", concat(code, args), ""},
		{"truncated code", code[:10], ""},
		{"fixed-address contract is not learnt", concat(other, ipfsTail(1), args), ""},
		{"no-metadata contract matches its exact code", concat(other, []byte{0xaa}, args), "Bare"},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := r.MatchCreation(tc.input)
			got := ""
			if ok {
				got = c.Name
			}
			if got != tc.want {
				t.Fatalf("MatchCreation = %q, want %q", got, tc.want)
			}
		})
	}

	// Constructor arguments follow whatever trailer the deployment carries.
	for _, tail := range [][]byte{ipfsTail(7), bzzrTail(8)} {
		row, err := r.Contracts()[0].DecodeConstructor(concat(code, tail, args))
		if err != nil {
			t.Fatal(err)
		}
		if got := argValues(row); len(got) != 2 || got[0] != "owner=0x00000000000000000000000000000000000000c1" || got[1] != "cap=1267650600228229401496703205376" {
			t.Fatalf("constructor args %v", got)
		}
	}
	fixed := r.Contracts()[1]
	if _, err := fixed.DecodeConstructor(concat(other, ipfsTail(3), args)); err != nil {
		t.Fatalf("fixed-address contract's constructor: %v", err)
	}
	if _, err := fixed.DecodeConstructor(concat(code, ipfsTail(3), args)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("other code: %v, want ErrMalformed", err)
	}
	if _, err := fixed.DecodeConstructor(concat(other, ipfsTail(3), args[:40])); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short arguments: %v, want ErrMalformed", err)
	}
}

func TestConstructorWithoutBin(t *testing.T) {
	c := oneContract(t, "Token", ctorABI, Keccak)
	if _, err := c.DecodeConstructor([]byte{1, 2, 3}); !errors.Is(err, ErrNoBytecode) {
		t.Fatalf("%v, want ErrNoBytecode", err)
	}
	c = oneContract(t, "Empty", `[{"type":"constructor","inputs":[],"stateMutability":"nonpayable"}]`, Keccak)
	if len(c.Tables) != 0 {
		t.Fatalf("constructor without inputs got a table")
	}
	if _, err := c.DecodeConstructor([]byte{1}); !errors.Is(err, ErrUnknownItem) {
		t.Fatalf("%v, want ErrUnknownItem", err)
	}
}
