package contract

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

func word(n int) []byte { return common.BigToHash(big.NewInt(int64(n))).Bytes() }

// TestBudget: overlapping offsets that would multiply one string are refused quickly, honest
// encodings of the same size pass, and go-ethereum's unchecked offset is caught.
func TestBudget(t *testing.T) {
	c := oneContract(t, "T", `[
		{"type":"function","name":"many","stateMutability":"nonpayable","inputs":[{"name":"s","type":"string[]"}],"outputs":[]},
		{"type":"function","name":"pair","stateMutability":"nonpayable","inputs":[{"name":"p","type":"string[2]"}],"outputs":[]}]`, Keccak)
	var many, pair []byte
	for _, tb := range c.Tables {
		if tb.Item == "many" {
			many = tb.ID
		} else {
			pair = tb.ID
		}
	}
	// string[] of n elements, every offset pointing at one 30 000-byte string.
	const n, size = 2000, 30000
	head := concat(word(32), word(n))
	strAt := 32 * n // relative to the elements
	for range n {
		head = append(head, word(strAt)...)
	}
	hostile := concat(many, head, word(size), make([]byte, size))
	start := time.Now()
	if _, err := c.DecodeCall(hostile, nil, false); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "far larger") {
		t.Fatalf("hostile input: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing took %s", d)
	}

	honest := make([]string, 200)
	for i := range honest {
		honest[i] = strings.Repeat("x", 300)
	}
	typ, _ := abi.NewType("string[]", "", nil)
	enc := must(abi.Arguments{{Type: typ}}.Pack(honest))
	if row, err := c.DecodeCall(concat(many, enc), nil, false); err != nil || len(row.Values) != 1 {
		t.Fatalf("honest input: %v", err)
	}

	// string[2] whose offset word points past the data: go-ethereum would slice out of range.
	bad := concat(pair, word(1<<40))
	if _, err := c.DecodeCall(bad, nil, false); !errors.Is(err, ErrMalformed) {
		t.Fatalf("offset past the data: %v", err)
	}
}
