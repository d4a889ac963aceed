// Package verify rebuilds FISCO BCOS 2.x blocks from binlog records and checks that they are
// the chain's blocks, not just well-formed bytes.
//
// A Verifier follows one chain: it carries the previous block (for the parent link and the
// number) and the sealer set, replayed from the _sys_consensus_ rows of the binlog itself,
// from record to record. Per block it checks the record CRC; that the header hashes to block
// item 2, the _sys_hash_2_block_ key, _sys_number_2_hash_ and _sys_hash_2_header_; that the
// transaction hashes are exactly the _sys_tx_hash_2_block_ rows, with the right block and
// index; both roots under the chain's root rule; that every consensus signature verifies
// against the header's sealerList, with a quorum of distinct sealers; that the sealerList is
// the tracked sealer set; and it recovers every transaction's sender (returned, so a caller
// never recovers twice). The first failed check is returned as a *CheckError.
//
// The cryptographic work of a block does not depend on the chain state, so it is split from
// the stateful checks: Prepare may run on many blocks at once, Commit must see them in order.
// VerifyRecords runs that pipeline with WithConcurrency workers.
package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// RootPolicy selects the transaction and receipt root rule.
type RootPolicy uint8

const (
	// RootsAuto uses WithSupportedVersion when given (Merkle from 2.2.0, RC2 before) and
	// otherwise accepts whichever rule matches, trying Merkle first.
	RootsAuto RootPolicy = iota
	// RootsMerkle requires the v2.2.0+ 16-ary Merkle rule.
	RootsMerkle
	// RootsRC2 requires the pre-2.2.0 rule.
	RootsRC2
)

// ParseRootPolicy turns "auto", "merkle" or "rc2" into a RootPolicy.
func ParseRootPolicy(s string) (RootPolicy, bool) {
	switch strings.ToLower(s) {
	case "", "auto":
		return RootsAuto, true
	case "merkle":
		return RootsMerkle, true
	case "rc2":
		return RootsRC2, true
	}
	return RootsAuto, false
}

// Parent is a block the next one must link to.
type Parent struct {
	Number uint64
	Hash   common.Hash
}

// Option configures a Verifier.
type Option func(*options)

type options struct {
	roots       RootPolicy
	version     string
	concurrency int
	parent      *Parent
	sealers     []cryptosuite.PublicKey
}

// WithRoots selects the root rule; without it the rule is RootsAuto.
func WithRoots(p RootPolicy) Option { return func(o *options) { o.roots = p } }

// WithSupportedVersion gives the chain's supported_version (e.g. "2.5.0"), used by RootsAuto.
// It is not in the binlog; leave it out when unknown.
func WithSupportedVersion(v string) Option { return func(o *options) { o.version = v } }

// WithConcurrency bounds the goroutines that verify signatures and recover senders; 0 (the
// default) means GOMAXPROCS.
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = n } }

// WithParent gives the block before the first one to verify, when verification starts after
// genesis. Without it the first non-genesis block is not linked to anything.
func WithParent(p Parent) Option { return func(o *options) { o.parent = &p } }

// WithSealers gives the sealer set in force before the first record, when verification starts
// after genesis. Without it (and before a genesis record is seen) the sealer-set check is
// skipped; Result.SealersChecked tells.
func WithSealers(keys []cryptosuite.PublicKey) Option {
	return func(o *options) { o.sealers = append([]cryptosuite.PublicKey{}, keys...) }
}

// Verifier checks the blocks of one chain in order. Prepare and PrepareBlock are safe for
// concurrent use; Commit, VerifyRecord, VerifyBlock and VerifyRecords are not, and must see
// blocks in order.
type Verifier struct {
	suite       *cryptosuite.Suite
	rule        RootPolicy // RootsAuto only when the version is unknown
	concurrency int

	prev          *Parent
	prevHashKnown bool
	sealers       sealerState
}

// ErrNoSuite is returned by New without a crypto suite.
var ErrNoSuite = errors.New("no crypto suite")

// New returns a Verifier for a chain of the given crypto suite (cryptosuite.New,
// cryptosuite.ECDSA or cryptosuite.SM).
func New(suite *cryptosuite.Suite, opts ...Option) (*Verifier, error) {
	if suite == nil {
		return nil, fmt.Errorf("new verifier: %w", ErrNoSuite)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{suite: suite, rule: o.roots, concurrency: o.concurrency}
	if v.concurrency <= 0 {
		v.concurrency = runtime.GOMAXPROCS(0)
	}
	if v.rule == RootsAuto && o.version != "" {
		merkle, err := atLeast(o.version, 2, 2)
		if err != nil {
			return nil, fmt.Errorf("new verifier: supported version %q: %w", o.version, err)
		}
		v.rule = RootsRC2
		if merkle {
			v.rule = RootsMerkle
		}
	}
	if o.parent != nil {
		v.prev, v.prevHashKnown = o.parent, true
	}
	if o.sealers != nil {
		v.sealers.setSealers(o.sealers)
	}
	return v, nil
}

// Suite returns the crypto suite the Verifier uses.
func (v *Verifier) Suite() *cryptosuite.Suite { return v.suite }

// Last returns the last block committed, or nil before the first. Its Hash is zero when that
// block did not decode.
func (v *Verifier) Last() *Parent {
	if v.prev == nil {
		return nil
	}
	p := *v.prev
	return &p
}

// atLeast reports whether a dotted version ("2.5.0", "v2.11.1") is at least major.minor.
func atLeast(version string, major, minor int) (bool, error) {
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(version), "v"), ".")
	if len(parts) < 2 {
		return false, errors.New("want major.minor[.patch]")
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false, errors.New("want numeric major.minor")
	}
	return ma > major || (ma == major && mi >= minor), nil
}

// SigCheck is the outcome of one consensus signature.
type SigCheck struct {
	// Index is the sealer index the signature claims.
	Index uint64
	// Valid tells whether it verifies against sealerList[Index] over the block hash.
	Valid bool
	// Err says why not.
	Err error
}

// Result is what verification learnt about a block, filled as far as the block could be
// decoded, also when a check failed.
type Result struct {
	// Number is the block number (the record's when the block did not decode).
	Number uint64
	// Hash is Hash(header) as computed.
	Hash common.Hash
	// Block is the decoded block, nil when it did not decode.
	Block *block.Block
	// Record is the binlog record the block came from; nil for VerifyBlock.
	Record *binlog.Record
	// Raw is the block RLP that was checked (a "0x"+hex row value already decoded).
	Raw []byte
	// TxHashes are the transaction hashes, in block order.
	TxHashes []common.Hash
	// ReceiptHashes are the receipt hashes, in block order (the receipts root's leaves).
	ReceiptHashes []common.Hash
	// Senders are the recovered transaction senders, in block order (zero where recovery
	// failed).
	Senders []common.Address
	// Signatures are the outcomes of the block's signatures, in block order.
	Signatures []SigCheck
	// Signers are the sealer indices with a valid signature, in block order.
	Signers []uint64
	// Quorum is the number of distinct valid signatures required (n - f for n sealers).
	Quorum int
	// Roots is the rule the roots were checked under.
	Roots block.RootRule
	// SealersChecked tells whether the sealerList was compared with a tracked sealer set.
	SealersChecked bool
	// Linked tells whether the parent link was checked against the previous block.
	Linked bool
}

// Prepared is a block after the checks that do not depend on the chain state; pass it to
// Commit in block order.
type Prepared struct {
	res       *Result
	err       *CheckError // first failed stateless check
	consensus []partialRow
}

// Result returns the partial result.
func (p *Prepared) Result() *Result { return p.res }

// Err returns the first failed stateless check as a *CheckError, or nil when every stateless
// check passed. The stateful checks (number, parent link, sealer set) run in Commit.
func (p *Prepared) Err() error {
	if p.err == nil {
		return nil
	}
	return p.err
}

// Prepare runs the stateless checks of a record. A readErr from the binlog Reader (a bad CRC or
// a malformed record handed over with the record) is reported as that record's failed check.
func (v *Verifier) Prepare(rec *binlog.Record, readErr error) *Prepared {
	return v.prepareRecord(rec, readErr, v.concurrency)
}

func (v *Verifier) prepareRecord(rec *binlog.Record, readErr error, workers int) *Prepared {
	if rec == nil {
		err := errors.New("no record")
		if readErr != nil {
			err = readErr
		}
		return &Prepared{res: &Result{}, err: &CheckError{Check: CheckDecode, Err: err}}
	}
	p := &Prepared{res: &Result{Number: rec.BlockNumber, Record: rec}}
	fail := func(check string, err error) {
		if p.err == nil {
			p.err = &CheckError{Block: p.res.Number, Hash: p.res.Hash, Check: check, Err: err}
		}
	}
	switch {
	case errors.Is(readErr, binlog.ErrBadCRC):
		fail(CheckCRC, readErr)
	case readErr != nil:
		fail(CheckDecode, readErr)
	case rec.Raw != nil && rec.ComputeCRC() != rec.CRC:
		fail(CheckCRC, fmt.Errorf("stored %08x, computed %08x", rec.CRC, rec.ComputeCRC()))
	}
	p.consensus = consensusRows(rec)

	raw, key, err := blockValue(rec)
	if err != nil {
		fail(CheckDecode, err)
		return p
	}
	p.res.Raw = raw
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		fail(CheckDecode, fmt.Errorf("decode _sys_hash_2_block_ value: %w", err))
		return p
	}
	v.checkBlock(p, blk, workers, fail)
	if p.err != nil && p.err.Hash == (common.Hash{}) {
		p.err.Hash = p.res.Hash
	}
	if blk.Header.Number != rec.BlockNumber {
		fail(CheckNumber, fmt.Errorf("header number %d in the record of block %d", blk.Header.Number, rec.BlockNumber))
	}
	hexHash := hex.EncodeToString(p.res.Hash[:])
	if !strings.EqualFold(key, hexHash) {
		fail(CheckHeaderHash, fmt.Errorf("_sys_hash_2_block_ key %s, header hashes to %s", key, hexHash))
	}
	if err := checkNumberRow(rec, hexHash); err != nil {
		fail(CheckHeaderHash, err)
	}
	if err := checkHeaderRow(rec, blk, hexHash); err != nil {
		fail(CheckHeaderHash, err)
	}
	if err := checkTxRows(rec, p.res.TxHashes); err != nil {
		var ie *indexError
		if errors.As(err, &ie) {
			fail(CheckTxIndex, err)
		} else {
			fail(CheckTxHash, err)
		}
	}
	return p
}

// PrepareBlock runs the stateless checks of a block RLP that comes without its binlog record
// (so without the row checks).
func (v *Verifier) PrepareBlock(raw []byte) *Prepared {
	p := &Prepared{res: &Result{Raw: raw}}
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		p.err = &CheckError{Check: CheckDecode, Err: fmt.Errorf("decode block: %w", err)}
		return p
	}
	p.res.Number = blk.Header.Number
	v.checkBlock(p, blk, v.concurrency, func(check string, err error) {
		if p.err == nil {
			p.err = &CheckError{Block: p.res.Number, Hash: p.res.Hash, Check: check, Err: err}
		}
	})
	return p
}

// checkBlock runs the checks that need only the block: hash, roots, senders, signatures.
func (v *Verifier) checkBlock(p *Prepared, blk *block.Block, workers int, fail func(string, error)) {
	s, h, res := v.suite, blk.Header, p.res
	res.Block, res.Number = blk, h.Number
	res.Hash = h.Hash(s)
	if res.Hash != blk.BlockHash {
		fail(CheckHeaderHash, fmt.Errorf("header hashes to %s, block item 2 is %s", res.Hash.Hex(), blk.BlockHash.Hex()))
	}
	if len(blk.Receipts) != len(blk.Transactions) {
		fail(CheckDecode, fmt.Errorf("%d receipts for %d transactions", len(blk.Receipts), len(blk.Transactions)))
	}

	// Hashes, senders and signatures are independent: spread them over the workers.
	n := len(blk.Transactions)
	res.TxHashes = make([]common.Hash, n)
	res.ReceiptHashes = make([]common.Hash, len(blk.Receipts))
	res.Senders = make([]common.Address, n)
	senderErrs := make([]error, n)
	res.Signatures = make([]SigCheck, len(blk.Signatures))
	parallel(workers, n+len(blk.Signatures), func(i int) {
		if i < n {
			tx := blk.Transactions[i]
			res.TxHashes[i] = tx.Hash(s)
			res.Senders[i], senderErrs[i] = tx.Sender(s)
			if i < len(blk.Receipts) {
				res.ReceiptHashes[i] = blk.Receipts[i].Hash(s)
			}
			return
		}
		i -= n
		sg := blk.Signatures[i]
		c := SigCheck{Index: sg.Index}
		if sg.Index >= uint64(len(h.SealerList)) {
			c.Err = fmt.Errorf("sealer index %d beyond the %d sealers", sg.Index, len(h.SealerList))
		} else if c.Err = s.Verify(h.SealerList[sg.Index], res.Hash, sg.Signature); c.Err == nil {
			c.Valid = true
		}
		res.Signatures[i] = c
	})
	for i := n; i < len(blk.Receipts); i++ { // only in a malformed block, already failed above
		res.ReceiptHashes[i] = blk.Receipts[i].Hash(s)
	}

	v.checkRoots(res, blk, fail)
	for i, err := range senderErrs {
		if err != nil {
			fail(CheckSender, fmt.Errorf("transaction %d (%s): %w", i, res.TxHashes[i].Hex(), err))
			break
		}
	}
	v.checkSignatures(res, blk, fail)
}

func (v *Verifier) checkRoots(res *Result, blk *block.Block, fail func(string, error)) {
	h := blk.Header
	if h.Number == 0 {
		// The node does not compute genesis roots: they are zero.
		res.Roots = block.MerkleRoots
		if h.TransactionsRoot != (common.Hash{}) || h.ReceiptsRoot != (common.Hash{}) {
			fail(CheckTxRoot, fmt.Errorf("genesis roots %s, %s are not zero", h.TransactionsRoot.Hex(), h.ReceiptsRoot.Hex()))
		}
		return
	}
	rules := []block.RootRule{block.MerkleRoots, block.RC2Roots}
	switch v.rule {
	case RootsMerkle:
		rules = rules[:1]
	case RootsRC2:
		rules = rules[1:]
	}
	var txErr, rcErr error
	for _, rule := range rules {
		res.Roots = rule
		txErr = v.txRoot(res, blk, rule)
		if txErr != nil {
			continue
		}
		if rcErr = v.receiptRoot(res, blk, rule); rcErr == nil {
			return
		}
		// A transactions root that matched fixes the rule: report the receipts root.
		fail(CheckReceiptRoot, rcErr)
		return
	}
	fail(CheckTxRoot, txErr)
}

func (v *Verifier) txRoot(res *Result, blk *block.Block, rule block.RootRule) error {
	var got common.Hash
	if rule == block.MerkleRoots {
		got = block.MerkleRoot(v.suite, res.TxHashes) // hashes already computed
	} else {
		var err error
		if got, err = block.TransactionsRoot(v.suite, blk.Transactions, rule); err != nil {
			return err
		}
	}
	if got != blk.Header.TransactionsRoot {
		return fmt.Errorf("transactionsRoot %s, %s rule gives %s", blk.Header.TransactionsRoot.Hex(), rule, got.Hex())
	}
	return nil
}

func (v *Verifier) receiptRoot(res *Result, blk *block.Block, rule block.RootRule) error {
	var got common.Hash
	if rule == block.MerkleRoots {
		got = block.MerkleRoot(v.suite, res.ReceiptHashes) // hashes already computed
	} else {
		got = block.ReceiptsRoot(v.suite, blk.Receipts, rule)
	}
	if got != blk.Header.ReceiptsRoot {
		return fmt.Errorf("receiptsRoot %s, %s rule gives %s", blk.Header.ReceiptsRoot.Hex(), rule, got.Hex())
	}
	return nil
}

// checkSignatures applies the node's PBFT rule (PBFTEngine::checkBlock): every signature must
// verify against sealerList[index], and at least n - f of the n sealers must have signed,
// f = (n-1)/3 (2f+1 when n = 3f+1). Signatures by the same sealer count once and are refused,
// as the node's consensus never produces them. Genesis needs none.
func (v *Verifier) checkSignatures(res *Result, blk *block.Block, fail func(string, error)) {
	n := len(blk.Header.SealerList)
	seen := make(map[uint64]bool, len(res.Signatures))
	var bad error
	for i, c := range res.Signatures {
		switch {
		case !c.Valid && bad == nil:
			bad = fmt.Errorf("signature %d (sealer %d): %w", i, c.Index, c.Err)
		case c.Valid && seen[c.Index] && bad == nil:
			bad = fmt.Errorf("signature %d: sealer %d signed twice", i, c.Index)
		case c.Valid && !seen[c.Index]:
			seen[c.Index] = true
			res.Signers = append(res.Signers, c.Index)
		}
	}
	if blk.Header.Number == 0 {
		if bad != nil {
			fail(CheckSignatures, bad)
		}
		return
	}
	res.Quorum = n - (n-1)/3
	if n == 0 {
		res.Quorum = 1
	}
	switch {
	case bad != nil:
		fail(CheckSignatures, bad)
	case len(res.Signers) < res.Quorum:
		fail(CheckSignatures, fmt.Errorf("%d distinct valid signatures, %d of %d sealers required", len(res.Signers), res.Quorum, n))
	}
}

// Commit runs the checks that need the chain state — number, parent link, sealer set — and
// then advances the state to the block. The state advances also when a check failed, as long
// as the block decoded, so that a report over many records flags each bad block once; a
// service that must stop at the last good block stops at the first error.
func (v *Verifier) Commit(p *Prepared) (*Result, error) {
	if p == nil || p.res == nil {
		return &Result{}, &CheckError{Check: CheckDecode, Err: errors.New("nothing prepared")}
	}
	res := p.res
	var cerr *CheckError
	fail := func(check string, err error) {
		if cerr == nil {
			cerr = &CheckError{Block: res.Number, Hash: res.Hash, Check: check, Err: err}
		}
	}
	blk := res.Block
	genesis := blk != nil && blk.Header.Number == 0
	if genesis {
		// Genesis rows define the initial sealers; the genesis header itself carries none to
		// compare (the node skips it too).
		v.sealers.apply(p.consensus)
		v.sealers.known = true
	}
	if blk != nil && !genesis {
		if v.prev != nil {
			res.Linked = v.prevHashKnown
			if blk.Header.Number != v.prev.Number+1 {
				fail(CheckNumber, fmt.Errorf("block %d follows block %d", blk.Header.Number, v.prev.Number))
			} else if v.prevHashKnown && blk.Header.ParentHash != v.prev.Hash {
				fail(CheckParentLink, fmt.Errorf("parentHash %s, block %d is %s", blk.Header.ParentHash.Hex(), v.prev.Number, v.prev.Hash.Hex()))
			}
		}
		if v.sealers.known {
			res.SealersChecked = true
			want := v.sealers.sealersFor(blk.Header.Number)
			got := make([]string, len(blk.Header.SealerList))
			for i, k := range blk.Header.SealerList {
				got[i] = k.String()
			}
			if !sameSet(got, want) {
				fail(CheckSealerSet, fmt.Errorf("header sealerList %s, _sys_consensus_ gives %s", abbrev(got), abbrev(want)))
			}
		}
		v.sealers.apply(p.consensus)
	}
	switch {
	case blk != nil:
		v.prev, v.prevHashKnown = &Parent{Number: blk.Header.Number, Hash: res.Hash}, true
	case res.Record != nil:
		// The record's block did not decode: the next block can still be numbered after it,
		// but not linked to it.
		v.prev, v.prevHashKnown = &Parent{Number: res.Record.BlockNumber}, false
	}
	if p.err != nil {
		return res, p.err
	}
	if cerr != nil {
		return res, cerr
	}
	return res, nil
}

func abbrev(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if len(id) > 16 {
			id = id[:16] + "…"
		}
		out[i] = id
	}
	return "[" + strings.Join(out, " ") + "]"
}

// VerifyRecord checks one record and advances the chain state (Prepare then Commit).
func (v *Verifier) VerifyRecord(rec *binlog.Record) (*Result, error) {
	return v.Commit(v.Prepare(rec, nil))
}

// VerifyBlock checks a block RLP that comes without its binlog record — the row checks are
// skipped — and advances the chain state. The sealer set is not updated from it.
func (v *Verifier) VerifyBlock(raw []byte) (*Result, error) {
	return v.Commit(v.PrepareBlock(raw))
}

// Source yields binlog records in order; *binlog.Reader implements it.
type Source interface {
	Next() (*binlog.Record, error)
}

// VerifyRecords verifies the records of src in order until io.EOF, preparing up to
// WithConcurrency blocks at once and committing them in order. fn is called once per record,
// in order, with its result and check error; a non-nil return stops the run and is returned.
// A record the reader hands over with an error (bad CRC, malformed body) is reported to fn as
// a failed check; any other read error ends the run and is returned once the records before it
// were reported.
func (v *Verifier) VerifyRecords(ctx context.Context, src Source, fn func(*Result, error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		done chan *Prepared
	}
	order := make(chan job, v.concurrency)
	sem := make(chan struct{}, v.concurrency)
	var readErr error
	var wg sync.WaitGroup
	go func() {
		defer close(order)
		for {
			rec, err := src.Next()
			if rec == nil {
				if err != nil && !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
			j := job{done: make(chan *Prepared, 1)}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				// Blocks run in parallel here; each one's own work stays on one goroutine.
				j.done <- v.prepareRecord(rec, err, 1)
			}()
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	var stop error
	for j := range order {
		if stop != nil {
			continue // drain so the reader goroutine ends
		}
		var p *Prepared
		select {
		case p = <-j.done:
		case <-ctx.Done():
			stop = ctx.Err()
			cancel()
			continue
		}
		res, err := v.Commit(p)
		if ferr := fn(res, err); ferr != nil {
			stop = ferr
			cancel()
		}
	}
	wg.Wait()
	if stop != nil {
		return stop
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return readErr
}

// parallel runs f(0..n-1) on up to workers goroutines.
func parallel(workers, n int, f func(int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// BlockBytes returns the block RLP a record carries in its single _sys_hash_2_block_ row,
// decoding the "0x"+hex form that old and MySQL-backed chains store.
func BlockBytes(rec *binlog.Record) ([]byte, error) {
	if rec == nil {
		return nil, errors.New("no record")
	}
	raw, _, err := blockValue(rec)
	return raw, err
}

// blockValue returns the block RLP of a record's single _sys_hash_2_block_ row and the row's
// key. The value is raw bytes, or "0x"+hex on old or MySQL-backed chains; raw block RLP
// starts with a list prefix (≥ 0xc0), never with "0x".
func blockValue(rec *binlog.Record) (raw []byte, key string, err error) {
	tb := rec.Table("_sys_hash_2_block_")
	if tb == nil {
		return nil, "", errors.New("record has no _sys_hash_2_block_ table")
	}
	rows := append(append([]binlog.Entry(nil), tb.Dirty...), tb.New...)
	if len(rows) != 1 {
		return nil, "", fmt.Errorf("_sys_hash_2_block_ has %d rows, want 1", len(rows))
	}
	k, _ := tb.Value(&rows[0], "hash")
	v, ok := tb.Value(&rows[0], "value")
	if !ok {
		return nil, "", errors.New("_sys_hash_2_block_ row has no value")
	}
	if b, ok := hexValue(v); ok {
		v = b
	}
	return v, string(k), nil
}

// hexValue decodes a "0x"-prefixed hex value.
func hexValue(v []byte) ([]byte, bool) {
	if !bytes.HasPrefix(v, []byte("0x")) {
		return nil, false
	}
	b := make([]byte, hex.DecodedLen(len(v)-2))
	if _, err := hex.Decode(b, v[2:]); err != nil {
		return nil, false
	}
	return b, true
}

func checkNumberRow(rec *binlog.Record, hexHash string) error {
	tb := rec.Table("_sys_number_2_hash_")
	if tb == nil {
		return errors.New("record has no _sys_number_2_hash_ table")
	}
	want := strconv.FormatUint(rec.BlockNumber, 10)
	for _, list := range [][]binlog.Entry{tb.Dirty, tb.New} {
		for i := range list {
			if n, _ := tb.Value(&list[i], "number"); string(n) != want {
				continue
			}
			h, _ := tb.Value(&list[i], "value")
			if !strings.EqualFold(strings.TrimPrefix(string(h), "0x"), hexHash) {
				return fmt.Errorf("_sys_number_2_hash_ maps %s to %s, header hashes to %s", want, h, hexHash)
			}
			return nil
		}
	}
	return fmt.Errorf("_sys_number_2_hash_ has no row for %s", want)
}

// checkHeaderRow compares the _sys_hash_2_header_ row (node binaries ≥ 2.6.0) with the block:
// same key, header bytes and signature list. Older records have no such table.
func checkHeaderRow(rec *binlog.Record, blk *block.Block, hexHash string) error {
	tb := rec.Table("_sys_hash_2_header_")
	if tb == nil {
		return nil
	}
	rows := append(append([]binlog.Entry(nil), tb.Dirty...), tb.New...)
	if len(rows) != 1 {
		return fmt.Errorf("_sys_hash_2_header_ has %d rows, want 1", len(rows))
	}
	e := &rows[0]
	if k, _ := tb.Value(e, "hash"); !strings.EqualFold(string(k), hexHash) {
		return fmt.Errorf("_sys_hash_2_header_ key %s, header hashes to %s", k, hexHash)
	}
	if hv, ok := tb.Value(e, "value"); ok {
		if b, isHex := hexValue(hv); isHex {
			hv = b
		}
		if !bytes.Equal(hv, blk.Header.Bytes()) {
			return errors.New("_sys_hash_2_header_ value differs from the block's header")
		}
	}
	if sv, ok := tb.Value(e, "sigs"); ok {
		if b, isHex := hexValue(sv); isHex {
			sv = b
		}
		if !bytes.Equal(sv, block.EncodeSigList(blk.Signatures)) {
			return errors.New("_sys_hash_2_header_ sigs differ from the block's signature list")
		}
	}
	return nil
}

// indexError marks a _sys_tx_hash_2_block_ row with the wrong block or position.
type indexError struct{ msg string }

func (e *indexError) Error() string { return e.msg }

// checkTxRows checks that the record's _sys_tx_hash_2_block_ rows are exactly the block's
// transactions: one row per transaction hash, naming this block and the transaction's index.
func checkTxRows(rec *binlog.Record, hashes []common.Hash) error {
	tb := rec.Table("_sys_tx_hash_2_block_")
	if tb == nil {
		if len(hashes) == 0 {
			return nil
		}
		return fmt.Errorf("record has no _sys_tx_hash_2_block_ table for %d transactions", len(hashes))
	}
	type row struct{ block, index string }
	rows := make(map[string]row)
	for _, list := range [][]binlog.Entry{tb.Dirty, tb.New} {
		for i := range list {
			h, _ := tb.Value(&list[i], "hash")
			b, _ := tb.Value(&list[i], "value")
			x, _ := tb.Value(&list[i], "index")
			key := strings.ToLower(strings.TrimPrefix(string(h), "0x"))
			if _, dup := rows[key]; dup {
				return fmt.Errorf("_sys_tx_hash_2_block_ has two rows for %s", key)
			}
			rows[key] = row{string(b), string(x)}
		}
	}
	block := strconv.FormatUint(rec.BlockNumber, 10)
	for i, h := range hashes {
		key := hex.EncodeToString(h[:])
		r, ok := rows[key]
		if !ok {
			return fmt.Errorf("transaction %d hash %s has no _sys_tx_hash_2_block_ row", i, key)
		}
		if r.block != block || r.index != strconv.Itoa(i) {
			return &indexError{fmt.Sprintf("_sys_tx_hash_2_block_ puts %s at block %s index %s, the block has it at %s index %d", key, r.block, r.index, block, i)}
		}
		delete(rows, key)
	}
	for key := range rows {
		return fmt.Errorf("_sys_tx_hash_2_block_ row %s is not a transaction of the block", key)
	}
	return nil
}
