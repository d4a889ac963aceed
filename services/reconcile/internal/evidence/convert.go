package evidence

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/evidence"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// RecordFromProto reads a record of the API (the JSON of the inbox and of the records.in
// topic too): payload as JSON text or 0x hex, hashes and signature 0x hex.
func RecordFromProto(p *reconcilev1.EvidenceRecord) (evidence.Record, error) {
	if p == nil {
		return evidence.Record{}, reject(ReasonInvalid, codes.InvalidArgument, "record: missing")
	}
	r := evidence.Record{ID: p.GetId(), Publisher: p.GetPublisher(), Category: p.GetCategory(), PayloadType: p.GetPayloadType(),
		Kind: p.GetKind(), Target: p.GetTarget()}
	switch r.PayloadType {
	case "bytes":
		b, err := unhex(p.GetPayload())
		if err != nil {
			return r, reject(ReasonInvalid, codes.InvalidArgument, "payload of type bytes: %v", err)
		}
		r.Payload = b
	default:
		if p.GetPayload() != "" {
			r.Payload = []byte(p.GetPayload())
		}
	}
	if h := p.GetPayloadHash(); h != "" {
		b, err := unhex(h)
		if err != nil || len(b) != 32 {
			return r, reject(ReasonInvalid, codes.InvalidArgument, "payload_hash %q: want 32 bytes of 0x hex", h)
		}
		r.PayloadHash = [32]byte(b)
	}
	if p.GetNotBefore() != nil {
		r.NotBefore = p.GetNotBefore().AsTime()
	}
	if p.GetNotAfter() != nil {
		r.NotAfter = p.GetNotAfter().AsTime()
	}
	sig, err := unhex(p.GetSignature())
	if err != nil {
		return r, reject(ReasonInvalid, codes.InvalidArgument, "signature: %v", err)
	}
	r.Signature = sig
	return r, nil
}

// RecordToProto is the API view of a record.
func RecordToProto(r *evidence.Record) *reconcilev1.EvidenceRecord {
	p := &reconcilev1.EvidenceRecord{Id: r.ID, Publisher: r.Publisher, Category: r.Category, PayloadType: r.PayloadType,
		PayloadHash: "0x" + hex.EncodeToString(r.PayloadHash[:]), Kind: r.Kind, Target: r.Target, Signature: "0x" + hex.EncodeToString(r.Signature)}
	if r.PayloadType == "bytes" && r.Payload != nil {
		p.Payload = "0x" + hex.EncodeToString(r.Payload)
	} else {
		p.Payload = string(r.Payload)
	}
	if !r.NotBefore.IsZero() {
		p.NotBefore = timestamppb.New(r.NotBefore)
	}
	if !r.NotAfter.IsZero() {
		p.NotAfter = timestamppb.New(r.NotAfter)
	}
	return p
}

func unhex(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil {
		return nil, fmt.Errorf("not 0x hex: %w", err)
	}
	return b, nil
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

// BatchToProto is the API view of a batch.
func BatchToProto(b *Batch) *reconcilev1.Batch {
	if b == nil {
		return nil
	}
	p := &reconcilev1.Batch{Number: b.Number, BatchId: hex0x(b.ID[:]), Segment: b.Segment, Root: hex0x(b.Root[:]), Count: int64(b.Count),
		State: b.State, SealedAt: ts(b.SealedAt), Archived: b.Archived, SentAt: tsp(b.SentAt), AnchoredAt: tsp(b.AnchoredAt)}
	if b.TxHash != nil {
		p.Anchor = &reconcilev1.Anchor{Contract: b.Contract, TransactionHash: b.TxHash.Hex()}
		if b.BlockNumber != nil {
			p.Anchor.BlockNumber = uint64(*b.BlockNumber)
		}
		if b.BlockHash != nil {
			p.Anchor.BlockHash = b.BlockHash.Hex()
		}
		if b.LogIndex != nil {
			p.Anchor.LogIndex = uint32(*b.LogIndex)
		}
	}
	return p
}

// RecordInfoToProto is the API view of an accepted record.
func RecordInfoToProto(r *RecordRow) *reconcilev1.RecordInfo {
	rec := RecordToProto(&r.Record)
	rec.Id = r.ID
	return &reconcilev1.RecordInfo{Record: rec, Seq: r.Seq, LeafHash: hex0x(r.Leaf[:]), AcceptedAt: ts(r.AcceptedAt), Source: r.Source,
		Batch: r.Batch, LeafIndex: r.LeafIndex, AnchorState: r.AnchorState, Status: r.Status, ReplacedBy: r.ReplacedBy, Erased: r.Erased}
}

// PublisherToProto is the API view of a publisher.
func PublisherToProto(p *publisherRow) *reconcilev1.Publisher {
	return &reconcilev1.Publisher{Name: p.Name, Suite: p.Suite, PublicKey: hex0x(p.PublicKey[:]), Address: p.Address, Roles: p.Roles,
		RecordId: p.RecordID, RegisteredAt: ts(p.At)}
}

// EventToProto is the records topic's message for an event.
func EventToProto(e *Event, chain string, group uint) *reconcilev1.RecordEvent {
	p := &reconcilev1.RecordEvent{Seq: e.Seq, Type: e.Type, RecordId: e.RecordID, Batch: BatchToProto(e.Batch), At: ts(e.At),
		Chain: chain, Group: uint32(group)}
	if e.Leaf != nil {
		p.LeafHash = hex0x(e.Leaf)
	}
	return p
}

// ProofToProto is the API view of a proof.
func ProofToProto(p *evidence.Proof, id string) *reconcilev1.Proof {
	rec := RecordToProto(&p.Record)
	rec.Id = id
	out := &reconcilev1.Proof{Record: rec, LeafHash: hex0x(p.LeafHash[:]), LeafIndex: p.LeafIndex, TreeSize: p.TreeSize,
		BatchId: hex0x(p.BatchID[:]), Root: hex0x(p.Root[:]), Segment: p.Segment,
		Publisher: &reconcilev1.Publisher{Suite: p.Publisher.Suite, PublicKey: hex0x(p.Publisher.PublicKey[:]), Address: strings.ToLower(p.Publisher.Address.Hex())},
		Anchor: &reconcilev1.Anchor{Contract: strings.ToLower(p.Anchor.Contract.Hex()), BlockNumber: p.Anchor.BlockNumber, BlockHash: p.Anchor.BlockHash.Hex(),
			TransactionHash: p.Anchor.TxHash.Hex(), LogIndex: uint32(p.Anchor.LogIndex)}}
	for _, h := range p.Path {
		out.Path = append(out.Path, hex0x(h[:]))
	}
	return out
}
