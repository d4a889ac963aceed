package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// The part of the Evidence contract (services/fiscosim/internal/contracts/Evidence.sol) the
// anchor uses.
const (
	// StoreSignature is the method that anchors a batch: id = batch id, docHash = root.
	StoreSignature = "store(bytes32,bytes32,string,string)"
	// GetSignature reads what an id was stored with.
	GetSignature = "get(bytes32)"
	// EvidenceStoredSignature is the event a store emits: topics[1] = id, topics[2] =
	// submitter, topics[3] = hash of category; data = docHash, metadata.
	EvidenceStoredSignature = "EvidenceStored(bytes32,address,string,bytes32,string)"
	// Category is the category every batch anchor is stored under.
	Category = "bcosdata.evidence.batch"
)

// evidenceABI describes the three entries above; selectors and topics are computed with the
// chain's hash (keccak256 or SM3), not go-ethereum's fixed keccak.
const evidenceABI = `[
 {"type":"function","name":"store","stateMutability":"nonpayable","inputs":[
  {"name":"id","type":"bytes32"},{"name":"docHash","type":"bytes32"},
  {"name":"category","type":"string"},{"name":"metadata","type":"string"}],
  "outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"get","stateMutability":"view","inputs":[{"name":"id","type":"bytes32"}],
  "outputs":[{"name":"submitter","type":"address"},{"name":"docHash","type":"bytes32"},
  {"name":"category","type":"string"},{"name":"metadata","type":"string"},{"name":"blockNumber","type":"uint256"}]},
 {"type":"event","name":"EvidenceStored","anonymous":false,"inputs":[
  {"name":"id","type":"bytes32","indexed":true},{"name":"submitter","type":"address","indexed":true},
  {"name":"category","type":"string","indexed":true},{"name":"docHash","type":"bytes32","indexed":false},
  {"name":"metadata","type":"string","indexed":false}]}
]`

var parsedABI = sync.OnceValue(func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(evidenceABI))
	if err != nil {
		panic(fmt.Sprintf("evidence chain: parse built-in ABI: %v", err))
	}
	return a
})

// selector returns the 4-byte method id under the chain's hash.
func selector(s *cryptosuite.Suite, sig string) []byte {
	h := s.Hash([]byte(sig))
	return h[:4]
}

// EvidenceStoredTopic returns topics[0] of EvidenceStored on a chain of suite s.
func EvidenceStoredTopic(s *cryptosuite.Suite) common.Hash {
	return s.Hash([]byte(EvidenceStoredSignature))
}

// Metadata is the metadata string of a batch anchor: {"count":N,"segment":"name"}.
type Metadata struct {
	Count   uint64 `json:"count"`
	Segment string `json:"segment"`
}

// String returns the JSON stored on chain.
func (m Metadata) String() string {
	b, _ := json.Marshal(m) // a struct of a number and a string always encodes
	return string(b)
}

// ParseMetadata reads the metadata of a batch anchor, refusing unknown fields.
func ParseMetadata(s string) (Metadata, error) {
	var m Metadata
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("anchor metadata %q: %w", clip(s), err)
	}
	return m, nil
}

func packStore(s *cryptosuite.Suite, batchID, root [32]byte, meta Metadata) ([]byte, error) {
	args, err := parsedABI().Methods["store"].Inputs.Pack(batchID, root, Category, meta.String())
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", StoreSignature, err)
	}
	return append(selector(s, StoreSignature), args...), nil
}

// Stored is what the contract holds for an id (get) or what an EvidenceStored log says.
type Stored struct {
	ID           [32]byte
	Submitter    common.Address
	DocHash      [32]byte
	Category     string      // from get; empty from a log (indexed: only its hash is there)
	CategoryHash common.Hash // from a log: topics[3]
	Metadata     string
	BlockNumber  uint64 // from get
}

func unpackGet(id [32]byte, out []byte) (Stored, error) {
	vals, err := parsedABI().Methods["get"].Outputs.UnpackValues(out)
	if err != nil {
		return Stored{}, fmt.Errorf("unpack %s output: %w", GetSignature, err)
	}
	st := Stored{ID: id}
	var ok [5]bool
	st.Submitter, ok[0] = vals[0].(common.Address)
	st.DocHash, ok[1] = vals[1].([32]byte)
	st.Category, ok[2] = vals[2].(string)
	st.Metadata, ok[3] = vals[3].(string)
	var bn *big.Int
	bn, ok[4] = vals[4].(*big.Int)
	if ok != [5]bool{true, true, true, true, true} || !bn.IsUint64() {
		return Stored{}, fmt.Errorf("unpack %s output: unexpected types %T %T %T %T %T", GetSignature, vals[0], vals[1], vals[2], vals[3], vals[4])
	}
	st.BlockNumber = bn.Uint64()
	return st, nil
}

// DecodeEvidenceStored decodes an EvidenceStored log of a chain of suite s from its topics and
// data, as a receipt or export's decoded-event message carries them.
func DecodeEvidenceStored(s *cryptosuite.Suite, topics []common.Hash, data []byte) (Stored, error) {
	if len(topics) != 4 {
		return Stored{}, fmt.Errorf("EvidenceStored log with %d topics, want 4", len(topics))
	}
	if want := EvidenceStoredTopic(s); topics[0] != want {
		return Stored{}, fmt.Errorf("log topic %s is not EvidenceStored (%s on %s chains)", topics[0].Hex(), want.Hex(), s.Name())
	}
	if !bytes.Equal(topics[2][:12], make([]byte, 12)) {
		return Stored{}, fmt.Errorf("EvidenceStored submitter topic %s is not an address", topics[2].Hex())
	}
	vals, err := parsedABI().Events["EvidenceStored"].Inputs.NonIndexed().UnpackValues(data)
	if err != nil {
		return Stored{}, fmt.Errorf("unpack EvidenceStored data: %w", err)
	}
	doc, ok1 := vals[0].([32]byte)
	meta, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return Stored{}, fmt.Errorf("unpack EvidenceStored data: unexpected types %T %T", vals[0], vals[1])
	}
	return Stored{
		ID: topics[1], Submitter: common.BytesToAddress(topics[2][12:]), CategoryHash: topics[3],
		DocHash: doc, Metadata: meta,
	}, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
