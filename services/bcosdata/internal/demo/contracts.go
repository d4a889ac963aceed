package demo

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
)

// sampleContracts is the demo's -contracts file for export with the files it names: the
// simulator's Asset and Evidence, learned from their creation bytecode.
//
//go:embed contracts/*
var sampleContracts embed.FS

// writeContracts writes the embedded contracts file and its ABI and bytecode files into dir
// and returns the path of the contracts file (export reads it by path, the files beside it).
func writeContracts(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	entries, err := sampleContracts.ReadDir("contracts")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		b, err := sampleContracts.ReadFile("contracts/" + e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return "", fmt.Errorf("write demo contracts: %w", err)
		}
	}
	return filepath.Join(dir, "contracts.yaml"), nil
}
