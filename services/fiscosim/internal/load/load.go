// Package load generates the simulator's traffic: a seeded, reproducible stream of signed
// transactions that deploys the sample contracts, funds the accounts and then mixes asset
// transfers (events with indexed and non-indexed parameters), evidence records, and a few
// transactions that revert, as a business chain sees.
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

	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/chain"
	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/ethereum/go-ethereum/common"
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

// Config configures a generator.
type Config struct {
	Suite            *cryptosuite.Suite
	ChainID, GroupID int64
	Seed             int64
	// Accounts is the number of trading accounts (at least 2).
	Accounts int
	// ContractAddress derives a deploy address (chain.Executor().ContractAddress).
	ContractAddress func(sender common.Address, nonce uint64) common.Address
}

// Unsigned is a transaction built by the generator and the key that must sign it.
type Unsigned struct {
	Tx  *block.Transaction
	Key *cryptosuite.PrivateKey
}

// Sign signs u and returns it ready for sealing.
func Sign(s *cryptosuite.Suite, u Unsigned) (*chain.Tx, error) {
	if err := u.Tx.Sign(s, u.Key); err != nil {
		return nil, err
	}
	raw := u.Tx.Encode()
	tx, err := block.DecodeTransaction(raw) // keeps the bytes, so hashing never re-encodes
	if err != nil {
		return nil, fmt.Errorf("decode generated transaction: %w", err)
	}
	return &chain.Tx{Tx: tx, Hash: s.Hash(raw), Sender: s.Address(u.Key.PublicKey())}, nil
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
	return g, nil
}

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
	us, err := g.Next(head, n)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(us))
	for i, u := range us {
		if err := u.Tx.Sign(g.cfg.Suite, u.Key); err != nil {
			return nil, err
		}
		out[i] = u.Tx.Encode()
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

// next builds transaction number g.step: the two deploys, one issue per account, then
// trading.
func (g *Generator) next(head uint64) (Unsigned, error) {
	step := g.step
	g.step++
	n := uint64(len(g.accounts))
	switch {
	case step == 0:
		return g.tx(head, g.deployer, nil, g.asset.Creation), nil
	case step == 1:
		return g.tx(head, g.deployer, nil, g.evidence.Creation), nil
	case step < 2+n:
		data, err := g.asset.Pack("issue", g.addrs[step-2], big.NewInt(InitialBalance))
		if err != nil {
			return Unsigned{}, err
		}
		return g.tx(head, g.deployer, &g.assetAt, data), nil
	}
	r := g.rng.IntN(100)
	from := g.rng.IntN(len(g.accounts))
	switch {
	case r < 55: // transfer
		to := (from + 1 + g.rng.IntN(len(g.accounts)-1)) % len(g.accounts)
		amount := big.NewInt(int64(1 + g.rng.IntN(500)))
		memos := [...]string{"invoice", "refund", "salary", "rent", "loan repayment", "dividend", "fee", "settlement"}
		memo := fmt.Sprintf("%s #%d", memos[g.rng.IntN(len(memos))], step)
		data, err := g.asset.Pack("transfer", g.addrs[to], amount, memo)
		if err != nil {
			return Unsigned{}, err
		}
		return g.tx(head, g.accounts[from], &g.assetAt, data), nil
	case r < 57: // overdraft: reverts with "insufficient balance"
		data, err := g.asset.Pack("transfer", g.addrs[(from+1)%len(g.addrs)], big.NewInt(1<<60), "overdraft")
		if err != nil {
			return Unsigned{}, err
		}
		return g.tx(head, g.accounts[from], &g.assetAt, data), nil
	case r < 59: // issue by a non-issuer: reverts
		data, err := g.asset.Pack("issue", g.addrs[from], big.NewInt(1))
		if err != nil {
			return Unsigned{}, err
		}
		return g.tx(head, g.accounts[from], &g.assetAt, data), nil
	case r < 60 && len(g.evidences) > 0: // duplicate evidence: reverts
		id := g.evidences[g.rng.IntN(len(g.evidences))]
		return g.storeEvidence(head, from, id, step)
	default: // new evidence
		var seed [16]byte
		for i := range seed {
			seed[i] = byte(g.rng.Uint32())
		}
		id := g.cfg.Suite.Hash([]byte("evidence"), seed[:])
		if len(g.evidences) < 1024 {
			g.evidences = append(g.evidences, id)
		}
		return g.storeEvidence(head, from, id, step)
	}
}

func (g *Generator) storeEvidence(head uint64, from int, id common.Hash, step uint64) (Unsigned, error) {
	doc := g.cfg.Suite.Hash(id[:], []byte("document"))
	categories := [...]string{"contract", "invoice", "receipt", "certificate", "ticket"}
	cat := categories[g.rng.IntN(len(categories))]
	meta := fmt.Sprintf(`{"seq":%d,"pages":%d,"signer":"%s"}`, step, 1+g.rng.IntN(40), g.addrs[from].Hex())
	data, err := g.evidence.Pack("store", id, doc, cat, meta)
	if err != nil {
		return Unsigned{}, err
	}
	return g.tx(head, g.accounts[from], &g.evidAt, data), nil
}
