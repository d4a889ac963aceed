package chain

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

func TestSelectorsAndTopic(t *testing.T) {
	e := cryptosuite.ECDSA()
	if got, want := selector(e, StoreSignature), crypto.Keccak256([]byte("store(bytes32,bytes32,string,string)"))[:4]; !bytes.Equal(got, want) {
		t.Fatalf("ECDSA store selector %x, want %x", got, want)
	}
	if got, want := EvidenceStoredTopic(e), crypto.Keccak256Hash([]byte("EvidenceStored(bytes32,address,string,bytes32,string)")); got != want {
		t.Fatalf("ECDSA topic %s, want %s", got.Hex(), want.Hex())
	}
	sm := cryptosuite.SM()
	if EvidenceStoredTopic(sm) == EvidenceStoredTopic(e) || bytes.Equal(selector(sm, StoreSignature), selector(e, StoreSignature)) {
		t.Fatal("SM selectors and topics must use SM3")
	}
	// The built-in ABI's signatures are the constants.
	a := parsedABI()
	if a.Methods["store"].Sig != StoreSignature || a.Methods["get"].Sig != GetSignature || a.Events["EvidenceStored"].Sig != EvidenceStoredSignature {
		t.Fatalf("ABI signatures %q %q %q", a.Methods["store"].Sig, a.Methods["get"].Sig, a.Events["EvidenceStored"].Sig)
	}
}

func TestMetadata(t *testing.T) {
	m := Metadata{Count: 42, Segment: `evidence-"7"`}
	if got := m.String(); got != `{"count":42,"segment":"evidence-\"7\""}` {
		t.Fatalf("metadata %s", got)
	}
	back, err := ParseMetadata(m.String())
	if err != nil || back != m {
		t.Fatalf("ParseMetadata = %+v, %v", back, err)
	}
	for _, bad := range []string{"", "{", `{"count":-1}`, `{"count":1,"segment":"s","extra":1}`, `[1]`} {
		if _, err := ParseMetadata(bad); err == nil {
			t.Errorf("ParseMetadata(%q) accepted", bad)
		}
	}
}

func storedLog(t testing.TB, s *cryptosuite.Suite, id, doc [32]byte, submitter common.Address, meta string) ([]common.Hash, []byte) {
	t.Helper()
	data, err := parsedABI().Events["EvidenceStored"].Inputs.NonIndexed().Pack(doc, meta)
	if err != nil {
		t.Fatal(err)
	}
	return []common.Hash{EvidenceStoredTopic(s), id, common.BytesToHash(submitter[:]), s.Hash([]byte(Category))}, data
}

func TestDecodeEvidenceStored(t *testing.T) {
	for _, s := range []*cryptosuite.Suite{cryptosuite.ECDSA(), cryptosuite.SM()} {
		id, doc := [32]byte{1, 2, 3}, [32]byte{9, 8, 7}
		sub := common.HexToAddress("0x00000000000000000000000000000000000000aa")
		topics, data := storedLog(t, s, id, doc, sub, `{"count":3,"segment":"s"}`)
		st, err := DecodeEvidenceStored(s, topics, data)
		if err != nil {
			t.Fatal(err)
		}
		if st.ID != id || st.DocHash != doc || st.Submitter != sub || st.Metadata != `{"count":3,"segment":"s"}` || st.CategoryHash != s.Hash([]byte(Category)) {
			t.Fatalf("%s: decoded %+v", s, st)
		}
		other := cryptosuite.ECDSA()
		if s.Name() == cryptosuite.NameECDSA {
			other = cryptosuite.SM()
		}
		bad := map[string]func() error{
			"other suite": func() error { _, err := DecodeEvidenceStored(other, topics, data); return err },
			"3 topics":    func() error { _, err := DecodeEvidenceStored(s, topics[:3], data); return err },
			"short data":  func() error { _, err := DecodeEvidenceStored(s, topics, data[:40]); return err },
			"submitter topic not an address": func() error {
				tt := append([]common.Hash(nil), topics...)
				tt[2][0] = 1
				_, err := DecodeEvidenceStored(s, tt, data)
				return err
			},
		}
		for name, f := range bad {
			if err := f(); err == nil {
				t.Errorf("%s: %s accepted", s, name)
			}
		}
	}
}

func TestUnpackGet(t *testing.T) {
	out, err := parsedABI().Methods["get"].Outputs.Pack(common.HexToAddress("0x01"), [32]byte{5}, Category, "m", bigOne())
	if err != nil {
		t.Fatal(err)
	}
	st, err := unpackGet([32]byte{7}, out)
	if err != nil || st.Submitter != common.HexToAddress("0x01") || st.DocHash != [32]byte{5} || st.Category != Category || st.Metadata != "m" || st.BlockNumber != 1 {
		t.Fatalf("unpackGet = %+v, %v", st, err)
	}
	if _, err := unpackGet([32]byte{}, out[:50]); err == nil {
		t.Fatal("short get output accepted")
	}
}

func FuzzDecodeEvidenceStored(f *testing.F) {
	s := cryptosuite.ECDSA()
	topics, data := storedLog(f, s, [32]byte{1}, [32]byte{2}, common.Address{3}, `{"count":1,"segment":"x"}`)
	f.Add(data, topics[1][:], topics[2][:])
	f.Add([]byte{}, make([]byte, 32), make([]byte, 32))
	f.Fuzz(func(t *testing.T, data, id, sub []byte) {
		tt := []common.Hash{topics[0], common.BytesToHash(id), common.BytesToHash(sub), topics[3]}
		st, err := DecodeEvidenceStored(s, tt, data)
		if err != nil {
			return
		}
		// The docHash is the first word; the id and submitter come from the topics.
		if !bytes.Equal(st.DocHash[:], data[:32]) || st.ID != tt[1] || st.Submitter != common.BytesToAddress(sub) {
			t.Fatalf("decoded %+v from topics %v data %x", st, tt, data)
		}
		if _, err := parsedABI().Events["EvidenceStored"].Inputs.NonIndexed().Pack(st.DocHash, st.Metadata); err != nil {
			t.Fatal(err)
		}
		_, _ = ParseMetadata(st.Metadata)
	})
}

func bigOne() *big.Int { return big.NewInt(1) }
