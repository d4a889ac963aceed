// Package load generates the simulator's traffic: a seeded, reproducible stream of signed
// transactions that deploys the sample contracts, funds the accounts and then mixes asset
// transfers (events with indexed and non-indexed parameters), evidence records, and a few
// transactions that revert, as a business chain sees. The full mix adds Ledger books and their
// Registry, whose calls carry every ABI shape a decoder meets (see contracts.NameLedger).
//
// Every transaction comes with its sent.Record: what the generator chose and what the contracts
// do with it by construction. Revert conditions and outputs of the sample contracts depend on
// the arguments, the setup and what the generator itself sent before, so it knows them without
// reading the chain.
//
// The stream depends only on the seed, the account count and the order of calls, never on
// time, so a simulator that asks for the same numbers of transactions per block gets the same
// chain. Signing is deterministic too (RFC 6979 style nonces for both ECDSA and SM2), which is
// what lets bulk generation sign in parallel without changing a byte.
package load

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Transaction defaults, those go-sdk uses.
const (
	GasLimit = 30000000
	GasPrice = 30000000
	// BlockLimitAhead is how far past the head the blockLimit of a new transaction is set
	// (go-sdk uses head+600 on channel connections, head+500 is common in tools).
	BlockLimitAhead = 500
	// InitialBalance is what every account is issued before trading.
	InitialBalance = 1_000_000
)

// Mix selects the contracts the trading phase calls.
type Mix int

const (
	// MixClassic trades on Asset and Evidence only: the stream the bulk benchmarks were
	// measured on, kept byte for byte.
	MixClassic Mix = iota
	// MixFull adds three Ledger books deployed with different constructor arguments, a
	// Registry that opens a fourth book itself and forwards postings, and sends half of the
	// trading to them.
	MixFull
)

// String returns "classic" or "full".
func (m Mix) String() string {
	if m == MixFull {
		return "full"
	}
	return "classic"
}

// Config configures a generator.
type Config struct {
	// Mix is the transaction mix (zero: MixClassic).
	Mix              Mix
	Suite            *cryptosuite.Suite
	ChainID, GroupID int64
	Seed             int64
	// Accounts is the number of trading accounts (at least 2).
	Accounts int
	// ContractAddress derives a deploy address (chain.Executor().ContractAddress).
	ContractAddress func(sender common.Address, nonce uint64) common.Address
}

// Unsigned is a transaction built by the generator, the key that must sign it, and the
// generator's record of it (its TxHash is set when the transaction is signed).
type Unsigned struct {
	Tx     *block.Transaction
	Key    *cryptosuite.PrivateKey
	Record *sent.Record
}

// Signed is a signed, RLP-encoded transaction and its record.
type Signed struct {
	Raw    []byte
	Record *sent.Record
}

// Sign signs u, sets the hash in its record and returns it ready for sealing.
func Sign(s *cryptosuite.Suite, u Unsigned) (*chain.Tx, error) {
	if err := u.Tx.Sign(s, u.Key); err != nil {
		return nil, err
	}
	raw := u.Tx.Encode()
	tx, err := block.DecodeTransaction(raw) // keeps the bytes, so hashing never re-encodes
	if err != nil {
		return nil, fmt.Errorf("decode generated transaction: %w", err)
	}
	h := s.Hash(raw)
	if u.Record != nil {
		u.Record.TxHash = h
	}
	return &chain.Tx{Tx: tx, Hash: h, Sender: s.Address(u.Key.PublicKey())}, nil
}

// Generator produces the transaction stream. It is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand
	deployer  *cryptosuite.PrivateKey
	accounts  []*cryptosuite.PrivateKey
	addrs     []common.Address
	asset     *contracts.Contract
	evidence  *contracts.Contract
	assetAt   common.Address
	evidAt    common.Address
	step      uint64 // transactions generated so far
	evidences []common.Hash

	// What the generator knows of the contracts' state, for the records: asset balances and
	// the evidence count. A restart forgets them (known = false).
	known     bool
	balances  []int64
	evidCount int64

	ledger, registry *contracts.Contract
	registryAt       common.Address
	books            []book
}

// book is one deployed Ledger.
type book struct {
	at         common.Address
	name       string
	owner      common.Address
	limit      *big.Int
	registered bool
}

// New returns a generator. Keys derive from the seed, so they are the same every run.
func New(cfg Config) (*Generator, error) {
	if cfg.Accounts < 2 {
		cfg.Accounts = 2
	}
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6c6f6164))}
	var err error
	if g.deployer, err = cfg.Suite.KeyFromSeed(fmt.Appendf(nil, "fiscosim/%d/deployer", cfg.Seed)); err != nil {
		return nil, fmt.Errorf("derive deployer key: %w", err)
	}
	for i := range cfg.Accounts {
		k, err := cfg.Suite.KeyFromSeed(fmt.Appendf(nil, "fiscosim/%d/account/%d", cfg.Seed, i))
		if err != nil {
			return nil, fmt.Errorf("derive account key %d: %w", i, err)
		}
		g.accounts = append(g.accounts, k)
		g.addrs = append(g.addrs, cfg.Suite.Address(k.PublicKey()))
	}
	if g.asset, err = contracts.Load(contracts.NameAsset, cfg.Suite.Hash); err != nil {
		return nil, err
	}
	if g.evidence, err = contracts.Load(contracts.NameEvidence, cfg.Suite.Hash); err != nil {
		return nil, err
	}
	dep := cfg.Suite.Address(g.deployer.PublicKey())
	g.assetAt = cfg.ContractAddress(dep, 0)
	g.evidAt = cfg.ContractAddress(dep, 1)
	g.known, g.balances = true, make([]int64, cfg.Accounts)
	if cfg.Mix == MixFull {
		if g.ledger, err = contracts.Load(contracts.NameLedger, cfg.Suite.Hash); err != nil {
			return nil, err
		}
		if g.registry, err = contracts.Load(contracts.NameRegistry, cfg.Suite.Hash); err != nil {
			return nil, err
		}
		g.books = []book{
			{at: cfg.ContractAddress(dep, 2), name: "总账 General Ledger", owner: dep, limit: maxUint256, registered: true},
			{at: cfg.ContractAddress(dep, 3), name: "Clearing 清算", owner: g.addrs[1], limit: new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil), registered: true},
			{at: cfg.ContractAddress(dep, 4), name: "", owner: g.addrs[0], limit: new(big.Int).Lsh(big.NewInt(1), 64)},
		}
		g.registryAt = cfg.ContractAddress(dep, 5)
		// go-ethereum's CREATE derives the address with keccak256 on every chain, and a new
		// contract starts at nonce 0: the registry's first book.
		g.books = append(g.books, book{at: crypto.CreateAddress(g.registryAt, 0), name: "分账 Branch",
			owner: dep, limit: new(big.Int).Lsh(big.NewInt(1), 128), registered: true})
	}
	return g, nil
}

// Mix returns the generator's transaction mix.
func (g *Generator) Mix() Mix { return g.cfg.Mix }

// Ledger returns the Ledger contract (nil unless the mix is MixFull).
func (g *Generator) Ledger() *contracts.Contract { return g.ledger }

// Registry returns the Registry contract (nil unless the mix is MixFull).
func (g *Generator) Registry() *contracts.Contract { return g.registry }

// LedgerAddresses returns where the stream deploys Ledger books: three by the deployer, the
// last by the Registry.
func (g *Generator) LedgerAddresses() []common.Address {
	out := make([]common.Address, len(g.books))
	for i, b := range g.books {
		out[i] = b.at
	}
	return out
}

// RegistryAddress is where the stream deploys the Registry (MixFull).
func (g *Generator) RegistryAddress() common.Address { return g.registryAt }

// Deployer returns the address that deploys the contracts and issues assets.
func (g *Generator) Deployer() common.Address { return g.cfg.Suite.Address(g.deployer.PublicKey()) }

// Accounts returns the trading account addresses.
func (g *Generator) Accounts() []common.Address { return append([]common.Address(nil), g.addrs...) }

// AssetAddress and EvidenceAddress are where the stream deploys the contracts.
func (g *Generator) AssetAddress() common.Address { return g.assetAt }

// EvidenceAddress is where the stream deploys the evidence contract.
func (g *Generator) EvidenceAddress() common.Address { return g.evidAt }

// Asset returns the asset contract (ABI and code of the chain's hash family).
func (g *Generator) Asset() *contracts.Contract { return g.asset }

// Evidence returns the evidence contract.
func (g *Generator) Evidence() *contracts.Contract { return g.evidence }

// Resume positions the stream for a node restarted at head: the random source is re-seeded
// from the seed and the head, and when the contracts are already deployed the deploy and
// issue transactions are skipped. A restarted chain is thus reproducible too.
func (g *Generator) Resume(head uint64, deployed bool) {
	g.rng = rand.New(rand.NewPCG(uint64(g.cfg.Seed), 0x6c6f6164^head))
	g.step = head << 32 // keeps memos and evidence metadata unique across restarts
	if !deployed {
		g.step = 0
	}
	g.evidences = nil
	g.known = !deployed
}

// Next returns the next n transactions of the stream, unsigned, with blockLimit head+500.
func (g *Generator) Next(head uint64, n int) ([]Unsigned, error) {
	out := make([]Unsigned, 0, n)
	for range n {
		u, err := g.next(head)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// NextSigned returns the next n transactions signed and RLP-encoded, as a client would send
// them with sendRawTransaction.
func (g *Generator) NextSigned(head uint64, n int) ([][]byte, error) {
	ss, err := g.NextSent(head, n)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = s.Raw
	}
	return out, nil
}

// NextSent is NextSigned with each transaction's record, its hash set.
func (g *Generator) NextSent(head uint64, n int) ([]Signed, error) {
	us, err := g.Next(head, n)
	if err != nil {
		return nil, err
	}
	out := make([]Signed, len(us))
	for i, u := range us {
		if err := u.Tx.Sign(g.cfg.Suite, u.Key); err != nil {
			return nil, err
		}
		out[i].Raw = u.Tx.Encode()
		u.Record.TxHash = g.cfg.Suite.Hash(out[i].Raw)
		out[i].Record = u.Record
	}
	return out, nil
}

func (g *Generator) tx(head uint64, key *cryptosuite.PrivateKey, to *common.Address, data []byte) Unsigned {
	// A random 250-bit nonce, as go-sdk draws.
	nonce := new(big.Int)
	for range 4 {
		nonce.Lsh(nonce, 64).Or(nonce, new(big.Int).SetUint64(g.rng.Uint64()))
	}
	nonce.Rsh(nonce, 6)
	return Unsigned{Key: key, Tx: &block.Transaction{
		Nonce:      nonce,
		GasPrice:   big.NewInt(GasPrice),
		Gas:        big.NewInt(GasLimit),
		BlockLimit: new(big.Int).SetUint64(head + BlockLimitAhead),
		To:         to,
		Value:      new(big.Int),
		Data:       data,
		ChainID:    big.NewInt(g.cfg.ChainID),
		GroupID:    big.NewInt(g.cfg.GroupID),
	}}
}

// next builds transaction number g.step: the deploys (and, in the full mix, the registry's
// setup), one issue per account, then trading.
func (g *Generator) next(head uint64) (Unsigned, error) {
	step := g.step
	g.step++
	n := uint64(len(g.accounts))
	setup := uint64(2)
	if g.cfg.Mix == MixFull {
		setup = 9
	}
	switch {
	case step == 0:
		return g.deploy(head, step, g.asset, g.assetAt)
	case step == 1:
		return g.deploy(head, step, g.evidence, g.evidAt)
	case step < setup:
		return g.setupFull(head, step)
	case step < setup+n:
		i := step - setup
		u, err := g.call(head, step, g.deployer, g.asset, g.assetAt, "issue(address,uint256)", g.addrs[i], big.NewInt(InitialBalance))
		if err != nil {
			return Unsigned{}, err
		}
		g.balances[i] += InitialBalance
		g.emit(u, g.asset, g.assetAt, "Issue(address,uint256)", g.addrs[i], big.NewInt(InitialBalance))
		return u, nil
	}
	if g.cfg.Mix == MixFull && g.rng.IntN(2) == 0 {
		return g.nextLedger(head, step)
	}
	r := g.rng.IntN(100)
	from := g.rng.IntN(len(g.accounts))
	switch {
	case r < 55: // transfer
		to := (from + 1 + g.rng.IntN(len(g.accounts)-1)) % len(g.accounts)
		amount := big.NewInt(int64(1 + g.rng.IntN(500)))
		memos := [...]string{"invoice", "refund", "salary", "rent", "loan repayment", "dividend", "fee", "settlement"}
		memo := fmt.Sprintf("%s #%d", memos[g.rng.IntN(len(memos))], step)
		u, err := g.call(head, step, g.accounts[from], g.asset, g.assetAt, "transfer(address,uint256,string)", g.addrs[to], amount, memo)
		if err != nil {
			return Unsigned{}, err
		}
		if g.known && g.balances[from] < amount.Int64() {
			revert(u, "insufficient balance")
			return u, nil
		}
		g.balances[from] -= amount.Int64()
		g.balances[to] += amount.Int64()
		g.emit(u, g.asset, g.assetAt, "Transfer(address,address,uint256,string)", g.addrs[from], g.addrs[to], amount, memo)
		g.output(u, g.asset, true)
		return u, nil
	case r < 57: // overdraft: reverts with "insufficient balance"
		u, err := g.call(head, step, g.accounts[from], g.asset, g.assetAt, "transfer(address,uint256,string)", g.addrs[(from+1)%len(g.addrs)], big.NewInt(1<<60), "overdraft")
		revert(u, "insufficient balance")
		return u, err
	case r < 59: // issue by a non-issuer: reverts
		u, err := g.call(head, step, g.accounts[from], g.asset, g.assetAt, "issue(address,uint256)", g.addrs[from], big.NewInt(1))
		revert(u, "only the issuer can issue")
		return u, err
	case r < 60 && len(g.evidences) > 0: // duplicate evidence: reverts
		id := g.evidences[g.rng.IntN(len(g.evidences))]
		u, err := g.storeEvidence(head, from, id, step)
		revert(u, "evidence already stored")
		return u, err
	default: // new evidence
		var seed [16]byte
		for i := range seed {
			seed[i] = byte(g.rng.Uint32())
		}
		id := g.cfg.Suite.Hash([]byte("evidence"), seed[:])
		if len(g.evidences) < 1024 {
			g.evidences = append(g.evidences, id)
		}
		u, err := g.storeEvidence(head, from, id, step)
		if err != nil {
			return Unsigned{}, err
		}
		g.evidCount++
		if g.known {
			g.output(u, g.evidence, big.NewInt(g.evidCount))
		}
		return u, nil
	}
}

// storeEvidence builds Evidence.store with the event a first store emits.
func (g *Generator) storeEvidence(head uint64, from int, id common.Hash, step uint64) (Unsigned, error) {
	doc := g.cfg.Suite.Hash(id[:], []byte("document"))
	categories := [...]string{"contract", "invoice", "receipt", "certificate", "ticket"}
	cat := categories[g.rng.IntN(len(categories))]
	meta := fmt.Sprintf(`{"seq":%d,"pages":%d,"signer":"%s"}`, step, 1+g.rng.IntN(40), g.addrs[from].Hex())
	u, err := g.call(head, step, g.accounts[from], g.evidence, g.evidAt, "store(bytes32,bytes32,string,string)", [32]byte(id), [32]byte(doc), cat, meta)
	if err != nil {
		return Unsigned{}, err
	}
	g.emit(u, g.evidence, g.evidAt, "EvidenceStored(bytes32,address,string,bytes32,string)", [32]byte(id), g.addrs[from], cat, [32]byte(doc), meta)
	return u, nil
}

// deploy builds a deploy transaction of c with constructor arguments, new at at.
func (g *Generator) deploy(head, step uint64, c *contracts.Contract, at common.Address, args ...any) (Unsigned, error) {
	data, err := c.PackConstructor(args...)
	if err != nil {
		return Unsigned{}, err
	}
	u := g.tx(head, g.deployer, nil, data)
	u.Record = &sent.Record{Seq: step, From: g.Deployer(), Contract: c.Name, To: at, Deploy: true,
		Method: "constructor", Signature: "constructor" + argTypes(c.ABI.Constructor.Inputs),
		Inputs: values(c.ABI.Constructor.Inputs, args)}
	return u, nil
}

// call builds a call of the method with signature sig on c at at, signed by key.
func (g *Generator) call(head, step uint64, key *cryptosuite.PrivateKey, c *contracts.Contract, at common.Address, sig string, args ...any) (Unsigned, error) {
	m, err := c.Method(sig)
	if err != nil {
		return Unsigned{}, err
	}
	data, err := c.Pack(m.Name, args...)
	if err != nil {
		return Unsigned{}, err
	}
	u := g.tx(head, key, &at, data)
	u.Record = &sent.Record{Seq: step, From: g.cfg.Suite.Address(key.PublicKey()), Contract: c.Name, To: at,
		Method: m.RawName, Signature: m.Sig, Inputs: values(m.Inputs, args)}
	return u, nil
}

// emit records an event the call emits. The signatures are constants of this package, so an
// unknown one is a bug the package's tests catch.
func (g *Generator) emit(u Unsigned, c *contracts.Contract, at common.Address, sig string, args ...any) {
	e, err := c.Event(sig)
	if err != nil {
		panic(err)
	}
	u.Record.Events = append(u.Record.Events, sent.Event{Contract: c.Name, Name: e.RawName, Signature: e.Sig,
		Address: at, Args: values(e.Inputs, args)})
}

// output records the values the call returns.
func (g *Generator) output(u Unsigned, c *contracts.Contract, vals ...any) {
	m, err := c.Method(u.Record.Signature)
	if err != nil {
		panic(err)
	}
	u.Record.Outputs = values(m.Outputs, vals)
}

// revert records that the call fails with reason.
func revert(u Unsigned, reason string) {
	if u.Record != nil {
		u.Record.Reverted, u.Record.RevertReason, u.Record.Events = true, reason, nil // a reverted transaction emits nothing
	}
}

// values pairs ABI arguments with the Go values the generator chose.
func values(args abi.Arguments, vals []any) []sent.Value {
	out := make([]sent.Value, len(args))
	for i, a := range args {
		out[i] = sent.Value{Name: a.Name, Type: a.Type.String(), Indexed: a.Indexed, Value: recordValue(a.Type, vals[i])}
	}
	return out
}

// recordValue turns a struct passed to the ABI packer into a sent.Tuple; other values are
// recorded as they are.
func recordValue(t abi.Type, v any) any {
	if t.T != abi.TupleTy {
		return v
	}
	rv := reflect.ValueOf(v)
	tup := make(sent.Tuple, len(t.TupleElems))
	for i, e := range t.TupleElems {
		tup[i] = sent.Value{Name: t.TupleRawNames[i], Type: e.String(), Value: recordValue(*e, rv.Field(i).Interface())}
	}
	return tup
}

func argTypes(args abi.Arguments) string {
	s := "("
	for i, a := range args {
		if i > 0 {
			s += ","
		}
		s += a.Type.String()
	}
	return s + ")"
}
