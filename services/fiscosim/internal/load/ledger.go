package load

import (
	"math/big"

	"github.com/bcosdata/bcosdata/services/fiscosim/internal/contracts"
	"github.com/bcosdata/bcosdata/services/fiscosim/sent"
	"github.com/ethereum/go-ethereum/common"
)

var (
	two256     = new(big.Int).Lsh(big.NewInt(1), 256)
	maxUint256 = new(big.Int).Sub(two256, big.NewInt(1))
	minInt256  = new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 255))
	maxInt256  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1))
)

// ledgerEntry is Ledger.Entry as the ABI packer takes it (fields in declaration order).
type ledgerEntry struct {
	Account   common.Address
	Delta     *big.Int
	Memo      string
	Ref       [32]byte
	ValueDate uint64
	Lines     []*big.Int
}

// Reasons the Ledger and Registry revert with.
const (
	reasonZeroDelta    = "zero delta"
	reasonZeroAmount   = "金额必须大于零"
	reasonOverLimit    = "超出限额"
	reasonBatchLength  = "batch length mismatch"
	reasonUnregistered = "book not registered"
)

// setupFull builds steps 2–8 of the full mix: three books with different constructor
// arguments, the registry, the registration of the first two books, and the fourth book
// opened by the registry.
func (g *Generator) setupFull(head, step uint64) (Unsigned, error) {
	switch step {
	case 2, 3, 4:
		b := g.books[step-2]
		limit := new(big.Int).Set(b.limit) // records never share the generator's values
		u, err := g.deploy(head, step, g.ledger, b.at, b.name, b.owner, limit)
		if err != nil {
			return Unsigned{}, err
		}
		g.emit(u, g.ledger, b.at, "Opened(string,address,uint256)", b.name, b.owner, limit)
		return u, nil
	case 5:
		return g.deploy(head, step, g.registry, g.registryAt)
	case 6, 7:
		return g.call(head, step, g.deployer, g.registry, g.registryAt, "register(address)", g.books[step-6].at)
	}
	b := g.books[3]
	limit := new(big.Int).Set(b.limit)
	u, err := g.call(head, step, g.deployer, g.registry, g.registryAt, "open(string,uint256)", b.name, limit)
	if err != nil {
		return Unsigned{}, err
	}
	u.Record.Created = append(u.Record.Created, sentCreated(g.ledger, b.at, b.name, b.owner, limit))
	g.emit(u, g.ledger, b.at, "Opened(string,address,uint256)", b.name, b.owner, limit)
	g.emit(u, g.registry, g.registryAt, "BookOpened(address,string)", b.at, b.name)
	g.output(u, g.registry, b.at)
	return u, nil
}

// nextLedger builds one Ledger or Registry call of the trading phase.
func (g *Generator) nextLedger(head, step uint64) (Unsigned, error) {
	r := g.rng.IntN(100)
	from := g.rng.IntN(len(g.accounts))
	key, sender := g.accounts[from], g.addrs[from]
	bi := g.rng.IntN(len(g.books))
	b := g.books[bi]
	account := g.addrs[g.rng.IntN(len(g.addrs))]
	switch {
	case r < 20: // signed posting with fee, memo, reference and kind; outputs
		delta, fee := g.int256(), g.int64()
		memo, ref, kind := g.memo(), g.bytes32(), g.bytes4()
		if g.rng.IntN(25) == 0 {
			delta = new(big.Int)
		}
		u, err := g.call(head, step, key, g.ledger, b.at, "post(address,int256,int64,string,bytes32,bytes4)", account, delta, fee, memo, ref, kind)
		if err != nil {
			return Unsigned{}, err
		}
		if delta.Sign() == 0 {
			revert(u, reasonZeroDelta)
			return u, nil
		}
		g.emit(u, g.ledger, b.at, "Posted(address,int256,int64,string,bytes32,bytes4)", account, delta, fee, memo, ref, kind)
		// entryId = Hash(abi.encodePacked(account, delta, ref)); the EVM's SHA3 is the chain's.
		id := g.cfg.Suite.Hash(account[:], word(delta), ref[:])
		g.output(u, g.ledger, [32]byte(id), wrapInt256(new(big.Int).Sub(delta, big.NewInt(fee))))
		return u, nil
	case r < 35: // overloaded posting of an unsigned amount, limited per book
		amount := g.amount(b.limit)
		u, err := g.call(head, step, key, g.ledger, b.at, "post(address,uint256)", account, amount)
		if err != nil {
			return Unsigned{}, err
		}
		if reason := postRefusal(b, amount); reason != "" {
			revert(u, reason)
			return u, nil
		}
		g.emit(u, g.ledger, b.at, "Posted(address,uint256)", account, amount)
		return u, nil
	case r < 50: // posting forwarded by the registry: the book logs inside the registry's call
		amount := g.amount(b.limit)
		u, err := g.call(head, step, key, g.registry, g.registryAt, "forward(address,address,uint256)", b.at, account, amount)
		if err != nil {
			return Unsigned{}, err
		}
		reason := postRefusal(b, amount)
		if !b.registered {
			reason = reasonUnregistered
		}
		if reason != "" {
			revert(u, reason)
			return u, nil
		}
		g.emit(u, g.ledger, b.at, "Posted(address,uint256)", account, amount)
		g.emit(u, g.registry, g.registryAt, "Forwarded(address,address,uint256)", b.at, account, amount)
		return u, nil
	case r < 65: // batch settlement: dynamic arrays, a string array, a fixed array
		n := g.rng.IntN(5)
		accounts, amounts, memos := make([]common.Address, n), make([]*big.Int, n), make([]string, n)
		total := new(big.Int)
		for i := range n {
			accounts[i], amounts[i], memos[i] = g.addrs[g.rng.IntN(len(g.addrs))], g.uint256(), g.memo()
			total.Add(total, amounts[i])
		}
		total.Mod(total, two256)
		mismatch := g.rng.IntN(12) == 0
		if mismatch {
			memos = append(memos, "extra")
		}
		batch := new(big.Int).SetUint64(step)
		start := uint64(1_704_067_200_000) + step*1000
		window := [2]uint64{start, start + uint64(g.rng.IntN(86_400_000))}
		u, err := g.call(head, step, key, g.ledger, b.at, "settle(uint256,address[],uint256[],string[],uint64[2])", batch, accounts, amounts, memos, window)
		if err != nil {
			return Unsigned{}, err
		}
		if mismatch {
			revert(u, reasonBatchLength)
			return u, nil
		}
		g.emit(u, g.ledger, b.at, "BatchSettled(uint256,address[],uint256[],string[],uint64[2],uint256)", batch, accounts, amounts, memos, window, total)
		g.output(u, g.ledger, total)
		return u, nil
	case r < 75: // a whole entry as a struct
		e := ledgerEntry{Account: account, Delta: g.int256(), Memo: g.memo(), Ref: g.bytes32(), ValueDate: g.rng.Uint64()}
		for range g.rng.IntN(4) {
			e.Lines = append(e.Lines, g.uint256())
		}
		if e.Lines == nil {
			e.Lines = []*big.Int{}
		}
		sig := "record((address,int256,string,bytes32,uint64,uint256[]))"
		u, err := g.call(head, step, key, g.ledger, b.at, sig, e)
		if err != nil {
			return Unsigned{}, err
		}
		g.emit(u, g.ledger, b.at, "EntryRecorded(bytes32,(address,int256,string,bytes32,uint64,uint256[]))", e.Ref, e)
		g.output(u, g.ledger, e.Ref)
		return u, nil
	case r < 85: // indexed string and bytes: their topics are hashes
		labels := [...]string{"转账备注", "", "kyc", "黑名单 watchlist", "audit"}
		label, payload := labels[g.rng.IntN(len(labels))], g.blob()
		u, err := g.call(head, step, key, g.ledger, b.at, "tag(string,bytes)", label, payload)
		if err != nil {
			return Unsigned{}, err
		}
		g.emit(u, g.ledger, b.at, "Tagged(string,bytes,address,string)", label, payload, sender, label)
		return u, nil
	case r < 95: // a document as non-indexed bytes, empty or long
		ref, doc, kind := g.bytes32(), g.blob(), g.bytes4()
		u, err := g.call(head, step, key, g.ledger, b.at, "attach(bytes32,bytes,bytes4)", ref, doc, kind)
		if err != nil {
			return Unsigned{}, err
		}
		g.emit(u, g.ledger, b.at, "Attached(bytes32,bytes,bytes4)", ref, doc, kind)
		return u, nil
	default: // zero arguments
		u, err := g.call(head, step, key, g.ledger, b.at, "checkpoint()")
		if err != nil {
			return Unsigned{}, err
		}
		g.emit(u, g.ledger, b.at, "Checkpoint(address)", sender)
		return u, nil
	}
}

// postRefusal is the reason Ledger.post(address,uint256) refuses amount in b, or "".
func postRefusal(b book, amount *big.Int) string {
	switch {
	case amount.Sign() == 0:
		return reasonZeroAmount
	case amount.Cmp(b.limit) > 0:
		return reasonOverLimit
	}
	return ""
}

// int256 draws a signed amount: small of either sign, beyond 64 bits of either sign, or an
// extreme.
func (g *Generator) int256() *big.Int {
	switch g.rng.IntN(10) {
	case 0:
		return new(big.Int).Set(minInt256)
	case 1:
		return new(big.Int).Set(maxInt256)
	case 2:
		return big.NewInt(-1)
	case 3, 4:
		v := g.bits(64 + g.rng.IntN(190))
		if g.rng.IntN(2) == 0 {
			v.Neg(v)
		}
		return v
	}
	return big.NewInt(g.rng.Int64N(2_000_000) - 1_000_000)
}

// int64 draws a fee: positive, a rebate (negative), zero or an extreme.
func (g *Generator) int64() int64 {
	switch g.rng.IntN(8) {
	case 0:
		return -1 << 63
	case 1:
		return 1<<63 - 1
	case 2:
		return 0
	case 3, 4:
		return -g.rng.Int64N(10_000)
	}
	return g.rng.Int64N(10_000)
}

// uint256 draws an unsigned amount: small, beyond 64 bits, near or at 2^256-1.
func (g *Generator) uint256() *big.Int {
	switch g.rng.IntN(8) {
	case 0:
		return new(big.Int).Set(maxUint256)
	case 1:
		return new(big.Int).Sub(maxUint256, big.NewInt(g.rng.Int64N(1000)))
	case 2, 3:
		return g.bits(65 + g.rng.IntN(180))
	case 4:
		return big.NewInt(0)
	}
	return big.NewInt(1 + g.rng.Int64N(1_000_000))
}

// amount draws a posting amount for a book with limit: sometimes 0 or over the limit (both
// refused), at the limit, beyond 64 bits, or small.
func (g *Generator) amount(limit *big.Int) *big.Int {
	switch g.rng.IntN(12) {
	case 0:
		return new(big.Int)
	case 1:
		if over := new(big.Int).Add(limit, big.NewInt(1+g.rng.Int64N(1000))); over.Cmp(maxUint256) <= 0 {
			return over
		}
		return new(big.Int).Set(limit) // a book without a limit cannot be exceeded
	case 2:
		return new(big.Int).Set(limit)
	case 3, 4:
		v := g.bits(65 + g.rng.IntN(60))
		return v.Mod(v, limit).Add(v, big.NewInt(1))
	}
	return big.NewInt(1 + g.rng.Int64N(100_000))
}

// bits returns a random number of exactly n bits.
func (g *Generator) bits(n int) *big.Int {
	v := new(big.Int)
	for v.BitLen() < n {
		v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(g.rng.Uint64()))
	}
	v.Rsh(v, uint(v.BitLen()-n))
	return v.SetBit(v, n-1, 1)
}

func (g *Generator) memo() string {
	memos := [...]string{"转账备注", "", "invoice 2024-0017", "季度结算 Q3 settlement", "rebate ✓ ünïcödé", "工资 salary"}
	return memos[g.rng.IntN(len(memos))]
}

func (g *Generator) bytes32() [32]byte {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func (g *Generator) bytes4() [4]byte {
	kinds := [...][4]byte{{'C', 'R', 'D', 'T'}, {'D', 'E', 'B', 'T'}, {'F', 'E', 'E', 0}, {0, 0, 0, 1}}
	return kinds[g.rng.IntN(len(kinds))]
}

// blob draws bytes: empty, short, or long (several ABI words, up to 2 KiB).
func (g *Generator) blob() []byte {
	var n int
	switch g.rng.IntN(4) {
	case 0:
		return []byte{}
	case 1:
		n = 1 + g.rng.IntN(32)
	default:
		n = 33 + g.rng.IntN(2000)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

// word is v as one ABI word: 32 bytes, two's complement.
func word(v *big.Int) []byte {
	w := new(big.Int).Mod(v, two256)
	return common.LeftPadBytes(w.Bytes(), 32)
}

// wrapInt256 reduces v to int256 the way EVM arithmetic wraps.
func wrapInt256(v *big.Int) *big.Int {
	w := new(big.Int).Mod(v, two256)
	if w.Cmp(maxInt256) > 0 {
		w.Sub(w, two256)
	}
	return w
}

func sentCreated(c *contracts.Contract, at common.Address, args ...any) sent.Created {
	return sent.Created{Contract: c.Name, Address: at, Args: values(c.ABI.Constructor.Inputs, args)}
}
