// Package contracts holds the simulator's sample Solidity contracts — an asset ledger, an
// evidence notary, a settlement book exercising every ABI shape, and a registry that opens and
// calls books — as compiled by solc 0.6.10 (the newest compiler line FISCO BCOS 2.x runs),
// with their ABI, creation code and runtime code embedded, plus call-data and event helpers.
//
// solc only computes keccak selectors and event topics. On national-crypto chains the FISCO
// "gm" compiler puts SM3-based ones into the bytecode instead, so Load rewrites the selector
// and topic constants with the chain's hash. The rewrite only touches PUSH4 selectors and
// PUSH32 topics at instruction boundaries and fails loudly if the code does not have the shape
// it expects; a contract that embeds another's creation code (Registry creates Ledger) gets
// the rewritten copy of it, and the selectors it calls on the other contract rewritten too; the revert-reason selector Error(string), which the optimiser folds into a
// shifted 3-byte constant, keeps its standard value (clients skip those 4 bytes anyway).
//
// Regenerate the artefacts with `make -C services/fiscosim/internal/contracts contracts`.
package contracts

import (
	"bytes"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

//go:embed *.abi.json *.bin *.sol
var artefacts embed.FS

// Names of the embedded contracts.
const (
	// NameAsset is the asset ledger (issue, transfer with memo, balanceOf).
	NameAsset = "Asset"
	// NameEvidence is the evidence notary (store, get).
	NameEvidence = "Evidence"
	// NameLedger is the settlement book whose methods and events cover the ABI's shapes.
	NameLedger = "Ledger"
	// NameRegistry opens Ledger books (CREATE inside a call) and forwards postings to them.
	NameRegistry = "Registry"
)

// uses lists, per contract, the contracts whose creation code it embeds or whose methods it
// calls: their selectors and code need the same SM rewrite.
var uses = map[string][]string{NameRegistry: {NameLedger}}

var (
	// ErrUnknownContract reports a contract name that is not embedded.
	ErrUnknownContract = errors.New("unknown contract")
	// ErrUnknownMethod reports a method name not in the ABI.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrUnknownEvent reports an event name not in the ABI.
	ErrUnknownEvent = errors.New("unknown event")
	// ErrBytecodeShape reports compiled code whose selector or topic constants are not where
	// the SM rewrite expects them.
	ErrBytecodeShape = errors.New("unexpected bytecode shape")
)

// Hasher is the chain's hash function: keccak256, or SM3 on national-crypto chains.
type Hasher func(data ...[]byte) common.Hash

// Contract is one compiled contract, with selectors and topics of one hash family.
type Contract struct {
	// Name is the Solidity contract name.
	Name string
	// ABI is the parsed ABI. Its method IDs and event IDs are keccak-based; use Selector and
	// Topic for the chain's values.
	ABI abi.ABI
	// ABIJSON is the ABI as solc wrote it.
	ABIJSON []byte
	// Source is the Solidity source.
	Source []byte
	// Creation is the creation (constructor) code a deploy transaction carries.
	Creation []byte
	// Runtime is the deployed code the creation code returns.
	Runtime []byte

	hash Hasher
}

// Names returns the names of the embedded contracts, sorted.
func Names() []string { return []string{NameAsset, NameEvidence, NameLedger, NameRegistry} }

// Load returns the named contract with selectors and topics computed by hash. For keccak256
// the code is solc's output unchanged.
func Load(name string, hash Hasher) (*Contract, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("load contract %q: %w", name, ErrUnknownContract)
	}
	abiJSON, err := artefacts.ReadFile(name + ".abi.json")
	if err != nil {
		return nil, fmt.Errorf("load contract %s: %w", name, err)
	}
	parsed, err := abi.JSON(bytes.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("parse ABI of %s: %w", name, err)
	}
	src, err := artefacts.ReadFile(name + ".sol")
	if err != nil {
		return nil, fmt.Errorf("load contract %s: %w", name, err)
	}
	creation, err := readHex(name + ".bin")
	if err != nil {
		return nil, err
	}
	runtime, err := readHex(name + ".runtime.bin")
	if err != nil {
		return nil, err
	}
	c := &Contract{Name: name, ABI: parsed, ABIJSON: abiJSON, Source: src, Creation: creation, Runtime: runtime, hash: hash}
	if hash(nil) != crypto.Keccak256Hash(nil) {
		if err := c.rehash(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func readHex(file string) ([]byte, error) {
	raw, err := artefacts.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", file, err)
	}
	return b, nil
}

// Selector returns the 4-byte function selector of a method: Hash(signature)[:4].
func (c *Contract) Selector(method string) ([4]byte, error) {
	m, ok := c.ABI.Methods[method]
	if !ok {
		return [4]byte{}, fmt.Errorf("selector of %s.%s: %w", c.Name, method, ErrUnknownMethod)
	}
	var s [4]byte
	h := c.hash([]byte(m.Sig))
	copy(s[:], h[:4])
	return s, nil
}

// Topic returns topic 0 of an event: Hash(signature).
func (c *Contract) Topic(event string) (common.Hash, error) {
	e, ok := c.ABI.Events[event]
	if !ok {
		return common.Hash{}, fmt.Errorf("topic of %s.%s: %w", c.Name, event, ErrUnknownEvent)
	}
	return c.hash([]byte(e.Sig)), nil
}

// Method returns the method with the given signature (e.g. "post(address,uint256)"), which
// tells overloaded methods apart where the ABI's Go names ("post", "post0") depend on order.
func (c *Contract) Method(sig string) (abi.Method, error) {
	for _, m := range c.ABI.Methods {
		if m.Sig == sig {
			return m, nil
		}
	}
	return abi.Method{}, fmt.Errorf("method %s.%s: %w", c.Name, sig, ErrUnknownMethod)
}

// Event returns the event with the given signature (e.g. "Posted(address,uint256)").
func (c *Contract) Event(sig string) (abi.Event, error) {
	for _, e := range c.ABI.Events {
		if e.Sig == sig {
			return e, nil
		}
	}
	return abi.Event{}, fmt.Errorf("event %s.%s: %w", c.Name, sig, ErrUnknownEvent)
}

// Hash returns data hashed with the contract's hash family (the chain's).
func (c *Contract) Hash(data ...[]byte) common.Hash { return c.hash(data...) }

// PackSig returns the call data of the method with signature sig: selector then arguments.
func (c *Contract) PackSig(sig string, args ...any) ([]byte, error) {
	m, err := c.Method(sig)
	if err != nil {
		return nil, err
	}
	return c.Pack(m.Name, args...)
}

// PackConstructor returns the creation code followed by the ABI-encoded constructor arguments,
// the data of a deploy transaction.
func (c *Contract) PackConstructor(args ...any) ([]byte, error) {
	enc, err := c.ABI.Constructor.Inputs.Pack(args...)
	if err != nil {
		return nil, fmt.Errorf("pack constructor arguments of %s: %w", c.Name, err)
	}
	return append(append([]byte(nil), c.Creation...), enc...), nil
}

// Pack returns the call data of method with args: selector then ABI-encoded arguments.
func (c *Contract) Pack(method string, args ...any) ([]byte, error) {
	sel, err := c.Selector(method)
	if err != nil {
		return nil, err
	}
	enc, err := c.ABI.Methods[method].Inputs.Pack(args...)
	if err != nil {
		return nil, fmt.Errorf("pack arguments of %s.%s: %w", c.Name, method, err)
	}
	return append(sel[:], enc...), nil
}

// Unpack decodes the return data of method.
func (c *Contract) Unpack(method string, out []byte) ([]any, error) {
	m, ok := c.ABI.Methods[method]
	if !ok {
		return nil, fmt.Errorf("unpack %s.%s: %w", c.Name, method, ErrUnknownMethod)
	}
	vals, err := m.Outputs.UnpackValues(out)
	if err != nil {
		return nil, fmt.Errorf("unpack output of %s.%s: %w", c.Name, method, err)
	}
	return vals, nil
}

// rehash replaces solc's keccak selectors and topics with the suite's, in the runtime code and
// in the copy of it inside the creation code.
func (c *Contract) rehash() error {
	var names []string
	for n := range c.ABI.Methods {
		names = append(names, n)
	}
	sort.Strings(names)
	runtime := append([]byte(nil), c.Runtime...)
	for _, dep := range uses[c.Name] {
		if err := c.rehashUse(runtime, dep); err != nil {
			return err
		}
	}
	for _, n := range names {
		sig := []byte(c.ABI.Methods[n].Sig)
		old := crypto.Keccak256(sig)[:4]
		if cnt := replacePush(runtime, old, c.hash(sig).Bytes()[:4]); cnt != 1 {
			return fmt.Errorf("rewrite selector of %s.%s: found %d PUSH4 %x, want 1: %w", c.Name, n, cnt, old, ErrBytecodeShape)
		}
	}
	if bytes.Count(c.Creation, c.Runtime) != 1 {
		return fmt.Errorf("rewrite creation code of %s: runtime code not embedded exactly once: %w", c.Name, ErrBytecodeShape)
	}
	// The constructor's own code, before the runtime copy, emits the events a constructor
	// emits.
	at := bytes.Index(c.Creation, c.Runtime)
	ctor := append([]byte(nil), c.Creation[:at]...)
	names = names[:0]
	for n := range c.ABI.Events {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sig := []byte(c.ABI.Events[n].Sig)
		old := crypto.Keccak256(sig)
		cnt := replacePush(runtime, old, c.hash(sig).Bytes()) + replacePush(ctor, old, c.hash(sig).Bytes())
		if cnt == 0 {
			return fmt.Errorf("rewrite topic of %s.%s: no PUSH32 %x: %w", c.Name, n, old, ErrBytecodeShape)
		}
	}
	c.Creation = slices.Concat(ctor, runtime, c.Creation[at+len(c.Runtime):])
	c.Runtime = runtime
	return nil
}

// rehashUse rewrites, in runtime, the embedded creation code of contract dep (whole, so the
// walk over c's own instructions never has to find its way through another contract's code
// and metadata) and the selectors of dep's methods that c calls.
func (c *Contract) rehashUse(runtime []byte, dep string) error {
	keccak, err := Load(dep, crypto.Keccak256Hash)
	if err != nil {
		return err
	}
	sm, err := Load(dep, c.hash)
	if err != nil {
		return err
	}
	if i := bytes.Index(runtime, keccak.Creation); i >= 0 {
		copy(runtime[i:], sm.Creation)
	}
	for _, m := range keccak.ABI.Methods {
		sig := []byte(m.Sig)
		replacePush(runtime, crypto.Keccak256(sig)[:4], c.hash(sig).Bytes()[:4])
	}
	return nil
}

// replacePush rewrites, in place, every PUSHn instruction (n = len(old)) whose immediate is
// old, walking instruction by instruction so that immediates of other pushes and the trailing
// metadata are never mistaken for code. It returns the number of rewrites.
func replacePush(code, old, repl []byte) int {
	n := len(old)
	op := byte(0x5f + n) // PUSH1 is 0x60
	cnt := 0
	for pc := 0; pc < len(code); {
		b := code[pc]
		if b >= 0x60 && b <= 0x7f {
			w := int(b - 0x5f)
			if b == op && pc+1+w <= len(code) && bytes.Equal(code[pc+1:pc+1+w], old) {
				copy(code[pc+1:], repl)
				cnt++
			}
			pc += 1 + w
			continue
		}
		pc++
	}
	return cnt
}
