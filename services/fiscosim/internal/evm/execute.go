package evm

import (
	"errors"
	"fmt"
	"hash"
	"math/big"
	"reflect"
	"unsafe"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
)

// Receipt status codes (libethcore/TransactionException.h) the executor produces.
const (
	StatusNone               = 0
	StatusOutOfGasIntrinsic  = 4
	StatusNotEnoughCash      = 7
	StatusBadInstruction     = 10
	StatusBadJumpDestination = 11
	StatusOutOfGas           = 12
	StatusOutOfStack         = 13
	StatusStackUnderflow     = 14
	StatusRevertInstruction  = 22
	StatusAddressAlreadyUsed = 24
	StatusCallAddressError   = 26
)

// Intrinsic gas of the FISCO schedule (the Ethereum Frontier/Homestead values).
const (
	txGas              = 21000
	txGasCreate        = 53000
	txDataZeroGas      = 4
	txDataNonZeroGas   = 68
	createDataGas      = 200
	maxRefundQuotient  = 2
	defaultBlockGasCap = 300000000
)

// ErrVMLayout reports a go-ethereum build whose interpreter does not have the field the SM3
// SHA3 opcode is installed into (the module is pinned to v1.9.16, which has it).
var ErrVMLayout = errors.New("unexpected go-ethereum interpreter layout")

// Message is a transaction as the executor sees it.
type Message struct {
	From     common.Address
	To       *common.Address // nil deploys Data as creation code
	Data     []byte
	Gas      uint64
	GasPrice *big.Int
	Value    *big.Int
}

// BlockContext is the block a transaction runs in.
type BlockContext struct {
	Number    int64
	Timestamp int64 // milliseconds, as FISCO's block.timestamp
	GasLimit  uint64
	// GetHash returns the hash of an earlier block for BLOCKHASH.
	GetHash func(n uint64) common.Hash
}

// Result is the outcome of one transaction.
type Result struct {
	Status          uint64
	GasUsed         uint64
	Output          []byte
	ContractAddress common.Address // zero unless a deploy succeeded
	Logs            []*types.Log
}

// Executor runs transactions. It is safe for concurrent use; each Block and Call has its own
// EVM.
type Executor struct {
	hash  Hasher
	sm    bool
	chain *params.ChainConfig
}

// NewExecutor returns an executor for a chain hashing with hash. sm selects SM3 for the SHA3
// opcode (national-crypto chains); hash must then be SM3.
func NewExecutor(hash Hasher, sm bool) *Executor {
	// Constantinople+Petersburg without EIP-158: solc 0.6 output runs (REVERT, RETURNDATA,
	// STATICCALL, shifts, CREATE2, EXTCODEHASH), contracts keep nonce 0 and empty accounts are
	// never swept, as on FISCO 2.x.
	zero := big.NewInt(0)
	cfg := &params.ChainConfig{
		ChainID:             big.NewInt(1),
		HomesteadBlock:      zero,
		EIP150Block:         zero,
		EIP155Block:         zero,
		ByzantiumBlock:      zero,
		ConstantinopleBlock: zero,
		PetersburgBlock:     zero,
	}
	return &Executor{hash: hash, sm: sm, chain: cfg}
}

// Block is the overlay for one block being executed.
type Block struct {
	ex  *Executor
	o   *overlay
	ctx BlockContext
	evm *vm.EVM
}

// NewBlock starts executing a block on top of st.
func (ex *Executor) NewBlock(st *State, ctx BlockContext) (*Block, error) {
	o := newOverlay(st)
	evm, err := ex.newEVM(o, ctx)
	if err != nil {
		return nil, err
	}
	return &Block{ex: ex, o: o, ctx: ctx, evm: evm}, nil
}

func (ex *Executor) newEVM(o *overlay, ctx BlockContext) (*vm.EVM, error) {
	if ctx.GasLimit == 0 {
		ctx.GasLimit = defaultBlockGasCap
	}
	getHash := ctx.GetHash
	if getHash == nil {
		getHash = func(uint64) common.Hash { return common.Hash{} }
	}
	vctx := vm.Context{
		CanTransfer: func(db vm.StateDB, a common.Address, v *big.Int) bool { return db.GetBalance(a).Cmp(v) >= 0 },
		Transfer: func(db vm.StateDB, from, to common.Address, v *big.Int) {
			db.SubBalance(from, v)
			db.AddBalance(to, v)
		},
		GetHash:     getHash,
		GasPrice:    new(big.Int),
		GasLimit:    ctx.GasLimit,
		BlockNumber: big.NewInt(ctx.Number),
		Time:        big.NewInt(ctx.Timestamp),
		Difficulty:  new(big.Int),
	}
	evm := vm.NewEVM(vctx, o, ex.chain, vm.Config{})
	if ex.sm {
		if err := installHasher(evm, &sm3State{hash: ex.hash}); err != nil {
			return nil, err
		}
	}
	return evm, nil
}

// Apply executes one transaction in the block. A failed transaction leaves no state change
// except, for a deploy, the sender's nonce increment (as go-ethereum and the node do).
func (b *Block) Apply(msg Message) Result {
	return b.ex.apply(b.evm, b.o, msg)
}

// Changes returns the account rows the block wrote so far. hexCode selects the pre-2.5.0
// encoding of code and codeHash.
func (b *Block) Changes(hexCode bool) []AccountChange { return b.o.changes(hexCode) }

// Commit folds the block into the state it was started on. The Block must not be used after.
func (b *Block) Commit() { b.o.commit() }

// Call runs msg read-only on st and returns its result; nothing is kept.
func (ex *Executor) Call(st *State, ctx BlockContext, msg Message) (Result, error) {
	o := newOverlay(st)
	evm, err := ex.newEVM(o, ctx)
	if err != nil {
		return Result{}, err
	}
	return ex.apply(evm, o, msg), nil
}

// ContractAddress returns the address a deploy by sender with account nonce nonce creates:
// the last 20 bytes of Hash(rlp([sender, nonce])).
func (ex *Executor) ContractAddress(sender common.Address, nonce uint64) common.Address {
	enc, _ := rlp.EncodeToBytes([]any{sender, nonce}) // cannot fail for these types
	h := ex.hash(enc)
	return common.BytesToAddress(h[12:])
}

func intrinsicGas(data []byte, create bool) uint64 {
	g := uint64(txGas)
	if create {
		g = txGasCreate
	}
	for _, c := range data {
		if c == 0 {
			g += txDataZeroGas
		} else {
			g += txDataNonZeroGas
		}
	}
	return g
}

func (ex *Executor) apply(evm *vm.EVM, o *overlay, msg Message) Result {
	value := msg.Value
	if value == nil {
		value = new(big.Int)
	}
	evm.Origin = msg.From
	evm.GasPrice = new(big.Int)
	if msg.GasPrice != nil {
		evm.GasPrice = msg.GasPrice
	}
	o.refund = 0
	logStart := len(o.logs)
	ig := intrinsicGas(msg.Data, msg.To == nil)
	if msg.Gas < ig {
		return Result{Status: StatusOutOfGasIntrinsic, GasUsed: msg.Gas}
	}
	gas := msg.Gas - ig

	var (
		ret      []byte
		left     uint64
		err      error
		contract common.Address
	)
	if msg.To == nil {
		ret, contract, left, err = ex.create(evm, o, msg.From, msg.Data, gas, value)
	} else {
		if len(o.GetCode(*msg.To)) == 0 {
			return Result{Status: StatusCallAddressError, GasUsed: ig}
		}
		snap := o.Snapshot()
		ret, left, err = evm.Call(vm.AccountRef(msg.From), *msg.To, msg.Data, gas, value)
		if err != nil {
			o.RevertToSnapshot(snap)
		}
	}
	used := msg.Gas - left
	if err == nil {
		refund := o.refund
		if refund > used/maxRefundQuotient {
			refund = used / maxRefundQuotient
		}
		used -= refund
	}
	res := Result{Status: statusOf(err), GasUsed: used, Output: ret}
	if err == nil {
		res.ContractAddress = contract
		res.Logs = append([]*types.Log(nil), o.logs[logStart:]...)
	} else if !errors.Is(err, vm.ErrExecutionReverted) {
		res.Output = nil
	}
	return res
}

// create deploys code at the FISCO contract address (Hash-based, so SM chains get SM3
// addresses), mirroring go-ethereum's EVM.create otherwise.
func (ex *Executor) create(evm *vm.EVM, o *overlay, sender common.Address, code []byte, gas uint64, value *big.Int) ([]byte, common.Address, uint64, error) {
	if !evm.CanTransfer(o, sender, value) {
		return nil, common.Address{}, gas, vm.ErrInsufficientBalance
	}
	nonce := o.GetNonce(sender)
	o.SetNonce(sender, nonce+1)
	addr := ex.ContractAddress(sender, nonce)
	if o.GetNonce(addr) != 0 || len(o.GetCode(addr)) != 0 {
		return nil, common.Address{}, 0, vm.ErrContractAddressCollision
	}
	snap := o.Snapshot()
	o.CreateAccount(addr)
	o.setAuthority(addr, evm.Origin)
	evm.Transfer(o, sender, addr, value)

	c := vm.NewContract(vm.AccountRef(sender), vm.AccountRef(addr), value, gas)
	c.SetCallCode(&addr, ex.hash(code), code)
	ret, err := evm.Interpreter().Run(c, nil, false)
	if err == nil {
		if c.UseGas(uint64(len(ret)) * createDataGas) {
			o.SetCode(addr, ret)
		} else {
			err = vm.ErrCodeStoreOutOfGas
		}
	}
	if err != nil {
		o.RevertToSnapshot(snap)
		if !errors.Is(err, vm.ErrExecutionReverted) {
			c.UseGas(c.Gas)
		}
		return ret, common.Address{}, c.Gas, err
	}
	return ret, addr, c.Gas, nil
}

func statusOf(err error) uint64 {
	var invalid *vm.ErrInvalidOpCode
	var underflow *vm.ErrStackUnderflow
	var overflow *vm.ErrStackOverflow
	switch {
	case err == nil:
		return StatusNone
	case errors.Is(err, vm.ErrExecutionReverted):
		return StatusRevertInstruction
	case errors.Is(err, vm.ErrOutOfGas), errors.Is(err, vm.ErrCodeStoreOutOfGas), errors.Is(err, vm.ErrGasUintOverflow):
		return StatusOutOfGas
	case errors.Is(err, vm.ErrInvalidJump):
		return StatusBadJumpDestination
	case errors.As(err, &underflow):
		return StatusStackUnderflow
	case errors.As(err, &overflow), errors.Is(err, vm.ErrDepth):
		return StatusOutOfStack
	case errors.Is(err, vm.ErrInsufficientBalance):
		return StatusNotEnoughCash
	case errors.Is(err, vm.ErrContractAddressCollision):
		return StatusAddressAlreadyUsed
	case errors.As(err, &invalid):
		return StatusBadInstruction
	}
	return StatusBadInstruction
}

// sm3State adapts the chain hash to the interpreter's keccakState (hash.Hash plus Read).
type sm3State struct {
	hash Hasher
	buf  []byte
}

var _ hash.Hash = (*sm3State)(nil)

func (s *sm3State) Write(p []byte) (int, error) { s.buf = append(s.buf, p...); return len(p), nil }
func (s *sm3State) Sum(b []byte) []byte         { h := s.hash(s.buf); return append(b, h[:]...) }
func (s *sm3State) Reset()                      { s.buf = s.buf[:0] }
func (s *sm3State) Size() int                   { return 32 }
func (s *sm3State) BlockSize() int              { return 64 }
func (s *sm3State) Read(p []byte) (int, error) {
	h := s.hash(s.buf)
	return copy(p, h[:]), nil
}

// installHasher makes the SHA3 opcode of evm use h. go-ethereum v1.9.16 keeps the opcode's
// hasher in an unexported interpreter field and only creates a keccak one when it is nil, so
// presetting it is the one way to get SM3 (what FISCO's national-crypto EVM computes) without
// forking core/vm. The SM cases of TestAssetLifecycle and TestEvidenceStoreOnce guard it.
func installHasher(evm *vm.EVM, h *sm3State) error {
	in, ok := evm.Interpreter().(*vm.EVMInterpreter)
	if !ok {
		return fmt.Errorf("install SM3 hasher into %T: %w", evm.Interpreter(), ErrVMLayout)
	}
	f := reflect.ValueOf(in).Elem().FieldByName("hasher")
	if !f.IsValid() || !reflect.TypeOf(h).Implements(f.Type()) {
		return fmt.Errorf("install SM3 hasher: no compatible hasher field: %w", ErrVMLayout)
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(h))
	return nil
}
