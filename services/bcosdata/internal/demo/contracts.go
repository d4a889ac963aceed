package demo

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// writeContracts writes export's -contracts file for the simulator's sample contracts into dir,
// with each contract's ABI and creation code beside it as the running chain has them (on SM
// chains with SM3 selectors), every deployment learned from its creation code; it returns the
// file's path. Taking them from the simulator, not from copies, keeps the demo's typed tables
// in step with the traffic.
func writeContracts(dir string, contracts []fiscosim.ContractInfo) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	var yaml strings.Builder
	yaml.WriteString("# export's contracts file, written by bcosdata demo from the simulator's sample contracts:\n")
	yaml.WriteString("# every deployment of their creation code is learned.\n")
	yaml.WriteString("contracts:\n")
	seen := map[string]bool{}
	for _, c := range contracts {
		if seen[c.Name] { // a contract deployed several times is one entry
			continue
		}
		seen[c.Name] = true
		abiFile, binFile := c.Name+".abi.json", c.Name+".bin"
		if err := os.WriteFile(filepath.Join(dir, abiFile), c.ABI, 0o644); err != nil {
			return "", fmt.Errorf("write demo contracts: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, binFile), []byte(hex.EncodeToString(c.Creation)+"\n"), 0o644); err != nil {
			return "", fmt.Errorf("write demo contracts: %w", err)
		}
		fmt.Fprintf(&yaml, "  - name: %s\n    abi: %s\n    bin: %s\n    learn: true\n", c.Name, abiFile, binFile)
	}
	path := filepath.Join(dir, "contracts.yaml")
	if err := os.WriteFile(path, []byte(yaml.String()), 0o644); err != nil {
		return "", fmt.Errorf("write demo contracts: %w", err)
	}
	return path, nil
}
