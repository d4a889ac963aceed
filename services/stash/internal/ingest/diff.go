package ingest

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/bcosdata/bcosdata/services/stash/internal/state"
)

var errBadHash = errors.New("block hash key is not 32 bytes of hex")

func hexDecode(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	return hex.DecodeString(s)
}

// diffTables names the tables whose contents differ between two copies of a change-set.
func diffTables(a, b []state.Table) string {
	da, db := state.TableDigests(a), state.TableDigests(b)
	var names []string
	for n, d := range da {
		if e, ok := db[n]; !ok || e != d {
			names = append(names, n)
		}
	}
	for n := range db {
		if _, ok := da[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
