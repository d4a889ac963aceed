package simtest

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
)

// WriteContracts writes the named sample contracts' ABI (<dir>/<Name>.abi.json) and creation
// code as hex (<dir>/<Name>.bin) as the chain deploys them: solc's output on ECDSA chains, and
// on SM chains the code with SM3 selectors and topics a FISCO gm compiler would have emitted.
// Decoders under test register these files like users register their compiler's output.
func WriteContracts(tb testing.TB, dir string, sm bool, names ...string) {
	tb.Helper()
	suite := cryptosuite.ECDSA()
	if sm {
		suite = cryptosuite.SM()
	}
	for _, name := range names {
		c, err := contracts.Load(name, suite.Hash)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".abi.json"), c.ABIJSON, 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".bin"), []byte(hex.EncodeToString(c.Creation)+"\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
