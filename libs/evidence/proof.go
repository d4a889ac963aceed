package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// ProofVersion is the proof JSON version this build writes and reads.
const ProofVersion = 1

// Names of the offline checks, in the order VerifyOffline runs them. CheckError.Check carries
// the one that failed.
const (
	CheckFormat    = "proof format"
	CheckPublisher = "publisher key"
	CheckRecord    = "record fields"
	CheckSignature = "record signature"
	CheckLeaf      = "leaf hash"
	CheckBatchID   = "batch id"
	CheckPath      = "inclusion path"
)

// Anchor locates the transaction that stored a batch root in the Evidence contract.
type Anchor struct {
	Contract    common.Address
	BlockNumber uint64
	BlockHash   common.Hash
	TxHash      common.Hash
	LogIndex    uint // index of the EvidenceStored log in the receipt's logs
}

// IsZero reports whether the anchor is unset (the batch is not anchored yet).
func (a Anchor) IsZero() bool { return a == Anchor{} }

// Proof is everything a third party needs to check that a record was published in a batch
// whose root is anchored on chain: the record (its payload may be erased), the publisher key,
// the leaf, the RFC 6962 inclusion path, the batch and the anchor.
//
// Its JSON form (encoding/json) writes byte strings as 0x hex and integers as decimal strings:
//
//	{"version":1,"record":{…},"publisher":{"suite":"ecdsa","public_key":"0x…","address":"0x…"},
//	 "leaf_hash":"0x…","leaf_index":"3","tree_size":"8","path":["0x…",…],
//	 "batch_id":"0x…","root":"0x…","segment":"…",
//	 "anchor":{"contract":"0x…","block_number":"12","block_hash":"0x…","tx_hash":"0x…","log_index":"0"}}
//
// "anchor" is omitted while the batch is not anchored.
type Proof struct {
	Version   int
	Record    Record
	Publisher PublisherKey
	LeafHash  [32]byte
	LeafIndex uint64
	TreeSize  uint64
	Path      [][32]byte
	BatchID   [32]byte
	Root      [32]byte
	Segment   string
	Anchor    Anchor
}

type anchorJSON struct {
	Contract    common.Address `json:"contract"`
	BlockNumber decimal        `json:"block_number"`
	BlockHash   common.Hash    `json:"block_hash"`
	TxHash      common.Hash    `json:"tx_hash"`
	LogIndex    decimal        `json:"log_index"`
}

type proofJSON struct {
	Version   int           `json:"version"`
	Record    Record        `json:"record"`
	Publisher PublisherKey  `json:"publisher"`
	LeafHash  common.Hash   `json:"leaf_hash"`
	LeafIndex decimal       `json:"leaf_index"`
	TreeSize  decimal       `json:"tree_size"`
	Path      []common.Hash `json:"path"`
	BatchID   common.Hash   `json:"batch_id"`
	Root      common.Hash   `json:"root"`
	Segment   string        `json:"segment"`
	Anchor    *anchorJSON   `json:"anchor,omitempty"`
}

// MarshalJSON writes the documented proof JSON.
func (p Proof) MarshalJSON() ([]byte, error) {
	j := proofJSON{
		Version: p.Version, Record: p.Record, Publisher: p.Publisher, LeafHash: p.LeafHash,
		LeafIndex: decimal(p.LeafIndex), TreeSize: decimal(p.TreeSize), Path: make([]common.Hash, len(p.Path)),
		BatchID: p.BatchID, Root: p.Root, Segment: p.Segment,
	}
	for i := range p.Path {
		j.Path[i] = p.Path[i]
	}
	if !p.Anchor.IsZero() {
		a := p.Anchor
		j.Anchor = &anchorJSON{Contract: a.Contract, BlockNumber: decimal(a.BlockNumber), BlockHash: a.BlockHash, TxHash: a.TxHash, LogIndex: decimal(a.LogIndex)}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the documented proof JSON.
func (p *Proof) UnmarshalJSON(b []byte) error {
	var j proofJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode proof: %w", err)
	}
	*p = Proof{
		Version: j.Version, Record: j.Record, Publisher: j.Publisher, LeafHash: j.LeafHash,
		LeafIndex: uint64(j.LeafIndex), TreeSize: uint64(j.TreeSize), Path: make([][32]byte, len(j.Path)),
		BatchID: j.BatchID, Root: j.Root, Segment: j.Segment,
	}
	for i := range j.Path {
		p.Path[i] = j.Path[i]
	}
	if a := j.Anchor; a != nil {
		if uint64(a.LogIndex) > uint64(^uint32(0)) {
			return fmt.Errorf("decode proof: anchor log_index %d out of range", uint64(a.LogIndex))
		}
		p.Anchor = Anchor{Contract: a.Contract, BlockNumber: uint64(a.BlockNumber), BlockHash: a.BlockHash, TxHash: a.TxHash, LogIndex: uint(a.LogIndex)}
	}
	return nil
}

// decimal is a uint64 written as a JSON string of decimal digits, so JavaScript readers keep
// every digit.
type decimal uint64

func (d decimal) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(d), 10) + `"`), nil
}

func (d *decimal) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a decimal string: %w", err)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a decimal string: %w", err)
	}
	*d = decimal(v)
	return nil
}

// VerifyOffline runs the checks that need no chain: the proof is well formed, the publisher
// key is consistent, the record is valid and signed by the publisher, the leaf hash is the
// record's, the batch id is BatchID(segment, root) and the path leads from the leaf to the
// root. The error is a *CheckError naming the first failed check.
func (p *Proof) VerifyOffline() error { return p.VerifyOfflineReport(nil) }

// VerifyOfflineReport is VerifyOffline calling report (when not nil) after each passed check
// with the check name and a short description of what was checked.
func (p *Proof) VerifyOfflineReport(report func(check, detail string)) error {
	if report == nil {
		report = func(string, string) {}
	}
	fail := func(check string, err error) error {
		if !errors.Is(err, ErrBadProof) {
			err = fmt.Errorf("%w: %w", ErrBadProof, err)
		}
		return &CheckError{Check: check, Err: err}
	}
	switch {
	case p.Version != ProofVersion:
		return fail(CheckFormat, fmt.Errorf("version %d, this build reads %d", p.Version, ProofVersion))
	case p.TreeSize == 0 || p.LeafIndex >= p.TreeSize:
		return fail(CheckFormat, fmt.Errorf("leaf index %d outside a tree of %d", p.LeafIndex, p.TreeSize))
	case p.Segment == "":
		return fail(CheckFormat, errors.New("empty segment name"))
	}
	report(CheckFormat, fmt.Sprintf("version %d, leaf %d of %d in segment %s", p.Version, p.LeafIndex, p.TreeSize, p.Segment))

	suite, err := p.Publisher.CryptoSuite()
	if err != nil {
		return fail(CheckPublisher, err)
	}
	report(CheckPublisher, fmt.Sprintf("%s key of %s (%s)", suite.Name(), p.Publisher.Address.Hex(), p.Record.Publisher))

	if err := p.Record.Validate(); err != nil {
		return fail(CheckRecord, err)
	}
	payload := "payload present, matches payload_hash"
	if p.Record.Erased() {
		payload = "payload erased, payload_hash kept"
	}
	if !p.Record.NotBefore.IsZero() || !p.Record.NotAfter.IsZero() {
		payload += fmt.Sprintf(", valid %s to %s", orOpen(p.Record.NotBefore), orOpen(p.Record.NotAfter))
	}
	if p.Record.Target != "" {
		payload += fmt.Sprintf(", target %q", p.Record.Target)
	}
	report(CheckRecord, fmt.Sprintf("record %q kind %s, %s", p.Record.ID, p.Record.Kind, payload))

	if err := VerifySignature(suite, p.Publisher.PublicKey, &p.Record); err != nil {
		return fail(CheckSignature, err)
	}
	report(CheckSignature, fmt.Sprintf("%s signature over digest %s", suite.Name(), p.Record.Digest(suite).Hex()))

	if leaf := LeafHash(&p.Record); leaf != p.LeafHash {
		return fail(CheckLeaf, fmt.Errorf("record gives leaf %s, proof says %s", common.Hash(leaf).Hex(), common.Hash(p.LeafHash).Hex()))
	}
	report(CheckLeaf, common.Hash(p.LeafHash).Hex())

	if id := BatchID(p.Segment, p.Root); id != p.BatchID {
		return fail(CheckBatchID, fmt.Errorf("BatchID(segment, root) is %s, proof says %s", common.Hash(id).Hex(), common.Hash(p.BatchID).Hex()))
	}
	report(CheckBatchID, common.Hash(p.BatchID).Hex())

	if err := VerifyInclusion(p.LeafHash, p.LeafIndex, p.TreeSize, p.Path, p.Root); err != nil {
		return fail(CheckPath, err)
	}
	report(CheckPath, fmt.Sprintf("%d hashes lead to root %s", len(p.Path), common.Hash(p.Root).Hex()))
	return nil
}

// NewProof assembles the offline part of the proof of recs[index] in the segment hdr, using a
// tree already built over the segment's leaves. The anchor is left for the caller.
func NewProof(hdr SegmentHeader, tree *Tree, rec Record, index uint64, pub PublisherKey) (Proof, error) {
	if tree.Size() != uint64(hdr.Count) || tree.Root() != hdr.Root {
		return Proof{}, fmt.Errorf("proof of %q: tree of %d leaves does not match segment %s (%d records): %w", rec.ID, tree.Size(), hdr.Name, hdr.Count, ErrBadProof)
	}
	path, err := tree.InclusionPath(index)
	if err != nil {
		return Proof{}, fmt.Errorf("proof of %q: %w", rec.ID, err)
	}
	leaf := LeafHash(&rec)
	if [32]byte(tree.levels[0][index]) != leaf {
		return Proof{}, fmt.Errorf("proof of %q: leaf %d of segment %s is another record: %w", rec.ID, index, hdr.Name, ErrBadProof)
	}
	return Proof{
		Version: ProofVersion, Record: rec, Publisher: pub, LeafHash: leaf,
		LeafIndex: index, TreeSize: tree.Size(), Path: path,
		BatchID: hdr.BatchID, Root: hdr.Root, Segment: hdr.Name,
	}, nil
}

func orOpen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.UTC().Format(timeLayout)
}
