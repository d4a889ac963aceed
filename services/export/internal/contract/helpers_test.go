package contract

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// files is an in-memory directory for load.
type files map[string]string

func (f files) read(name string) ([]byte, error) {
	s, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	return []byte(s), nil
}

// loadTest loads a -contracts file from memory.
func loadTest(t testing.TB, yaml string, fs files, suite Suite) *Registry {
	t.Helper()
	r, err := load("test.yaml", []byte(yaml), fs.read, suite)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// oneContract registers abiJSON as contract name at a fixed address.
func oneContract(t testing.TB, name, abiJSON string, suite Suite) *Contract {
	t.Helper()
	y := fmt.Sprintf("contracts:\n  - name: %s\n    abi: a.json\n    addresses: [\"0x00000000000000000000000000000000000000aa\"]\n", name)
	return loadTest(t, y, files{"a.json": abiJSON}, suite).Contracts()[0]
}

func parseABI(t testing.TB, abiJSON string) abi.ABI {
	t.Helper()
	a, err := abi.JSON(strings.NewReader(abiJSON))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tableNamed(t testing.TB, c *Contract, name string) *Table {
	t.Helper()
	for _, tb := range c.Tables {
		if tb.Name == name {
			return tb
		}
	}
	var names []string
	for _, tb := range c.Tables {
		names = append(names, tb.Name)
	}
	t.Fatalf("no table %s among %v", name, names)
	return nil
}

func argValues(r *Row) []string {
	out := make([]string, len(r.Args))
	for i, a := range r.Args {
		out[i] = a.Name + "=" + a.Value
	}
	return out
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := parseHexCode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
