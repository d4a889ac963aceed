package contracts

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/ethereum/go-ethereum/crypto"
)

// TestLoadBothHashFamilies checks the embedded artefacts and the SM rewrite: keccak code is
// solc's output; SM code dispatches on SM3 selectors and emits SM3 topics, and nothing else
// changes length.
func TestLoadBothHashFamilies(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			k, err := Load(name, cryptosuite.ECDSA().Hash)
			if err != nil {
				t.Fatal(err)
			}
			sm, err := Load(name, cryptosuite.SM().Hash)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(k.Creation, k.Runtime) != 1 {
				t.Fatal("creation code does not carry the runtime code")
			}
			if len(sm.Runtime) != len(k.Runtime) || len(sm.Creation) != len(k.Creation) || bytes.Equal(sm.Runtime, k.Runtime) {
				t.Fatal("SM code should differ from keccak code only in constants")
			}
			for m, method := range k.ABI.Methods {
				ks, _ := k.Selector(m)
				ss, _ := sm.Selector(m)
				if !bytes.Equal(ks[:], crypto.Keccak256([]byte(method.Sig))[:4]) {
					t.Fatalf("%s keccak selector %x", m, ks)
				}
				if !bytes.Contains(sm.Runtime, append([]byte{0x63}, ss[:]...)) || bytes.Contains(sm.Runtime, append([]byte{0x63}, ks[:]...)) {
					t.Fatalf("%s: SM runtime does not dispatch on PUSH4 %x only", m, ss)
				}
			}
			for e := range k.ABI.Events {
				st, _ := sm.Topic(e)
				if !bytes.Contains(sm.Creation, append([]byte{0x7f}, st[:]...)) { // constructor or runtime
					t.Fatalf("%s: SM topic missing", e)
				}
			}
		})
	}
	// Registry calls Ledger and embeds its creation code: both must be SM.
	reg, _ := Load(NameRegistry, cryptosuite.SM().Hash)
	kl, _ := Load(NameLedger, cryptosuite.ECDSA().Hash)
	sl, _ := Load(NameLedger, cryptosuite.SM().Hash)
	ks, _ := kl.Method("post(address,uint256)")
	ss := cryptosuite.SM().Hash([]byte(ks.Sig))
	if !bytes.Contains(reg.Runtime, sl.Creation) || bytes.Contains(reg.Runtime, kl.Creation) ||
		!bytes.Contains(reg.Runtime, append([]byte{0x63}, ss[:4]...)) || bytes.Contains(reg.Runtime, append([]byte{0x63}, ks.ID...)) {
		t.Fatal("Registry's SM code embeds or calls Ledger with keccak values")
	}
	if _, err := Load("Nope", cryptosuite.ECDSA().Hash); !errors.Is(err, ErrUnknownContract) {
		t.Fatalf("unknown contract: %v", err)
	}
	a, _ := Load(NameAsset, cryptosuite.ECDSA().Hash)
	if _, err := a.Pack("nope"); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}
}
