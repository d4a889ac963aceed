package evidence

import (
	"context"
	"encoding/json"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// API is the gRPC EvidenceService. It answers Unavailable until the service runs, and
// FailedPrecondition when evidence is off (-evidence.archive empty).
type API struct {
	reconcilev1.UnimplementedEvidenceServiceServer
	svc     func() *Service
	enabled bool
}

// NewAPI returns the API of the service svc returns once it runs.
func NewAPI(svc func() *Service, enabled bool) *API { return &API{svc: svc, enabled: enabled} }

func (a *API) get() (*Service, error) {
	if !a.enabled {
		return nil, status.Error(codes.FailedPrecondition, "evidence is off: start reconcile with -evidence.archive")
	}
	s := a.svc()
	if s == nil {
		return nil, status.Error(codes.Unavailable, "evidence not started yet")
	}
	return s, nil
}

// accept runs one record of the API through Accept.
func (a *API) accept(ctx context.Context, p *reconcilev1.EvidenceRecord, want string) (Accepted, error) {
	s, err := a.get()
	if err != nil {
		return Accepted{}, err
	}
	rec, err := RecordFromProto(p)
	if err != nil {
		s.metrics.Rejected.WithLabelValues(ReasonInvalid).Inc()
		return Accepted{}, err
	}
	outs, errs := s.Accept(ctx, []Incoming{{Record: rec, Source: "grpc", Want: want}})
	return outs[0], errs[0]
}

// RegisterPublisher implements EvidenceService.
func (a *API) RegisterPublisher(ctx context.Context, req *reconcilev1.RegisterPublisherRequest) (*reconcilev1.RegisterPublisherResponse, error) {
	out, err := a.accept(ctx, req.GetRecord(), KindPublisher)
	if err != nil {
		return nil, err
	}
	s, _ := a.get()
	p, err := s.Publisher(ctx, req.GetRecord().GetPublisher())
	if err != nil {
		return nil, err
	}
	return &reconcilev1.RegisterPublisherResponse{Publisher: PublisherToProto(p), LeafHash: hex0x(out.Leaf[:])}, nil
}

// GetPublisher implements EvidenceService.
func (a *API) GetPublisher(ctx context.Context, req *reconcilev1.GetPublisherRequest) (*reconcilev1.GetPublisherResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	p, err := s.Publisher(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &reconcilev1.GetPublisherResponse{Publisher: PublisherToProto(p)}, nil
}

// ListPublishers implements EvidenceService.
func (a *API) ListPublishers(ctx context.Context, _ *reconcilev1.ListPublishersRequest) (*reconcilev1.ListPublishersResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	ps, err := s.Publishers(ctx)
	if err != nil {
		return nil, err
	}
	out := &reconcilev1.ListPublishersResponse{}
	for _, p := range ps {
		out.Publishers = append(out.Publishers, PublisherToProto(p))
	}
	return out, nil
}

// PublishRecord implements EvidenceService.
func (a *API) PublishRecord(ctx context.Context, req *reconcilev1.PublishRecordRequest) (*reconcilev1.PublishRecordResponse, error) {
	out, err := a.accept(ctx, req.GetRecord(), KindPublish)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.PublishRecordResponse{Id: out.ID, LeafHash: hex0x(out.Leaf[:]), Seq: out.Seq}, nil
}

// SupersedeRecord implements EvidenceService.
func (a *API) SupersedeRecord(ctx context.Context, req *reconcilev1.SupersedeRecordRequest) (*reconcilev1.SupersedeRecordResponse, error) {
	out, err := a.accept(ctx, req.GetRecord(), KindSupersede)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.SupersedeRecordResponse{Id: out.ID, LeafHash: hex0x(out.Leaf[:])}, nil
}

// RevokeRecord implements EvidenceService.
func (a *API) RevokeRecord(ctx context.Context, req *reconcilev1.RevokeRecordRequest) (*reconcilev1.RevokeRecordResponse, error) {
	out, err := a.accept(ctx, req.GetRecord(), KindRevoke)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.RevokeRecordResponse{Id: out.ID, LeafHash: hex0x(out.Leaf[:])}, nil
}

// EraseRecord implements EvidenceService.
func (a *API) EraseRecord(ctx context.Context, req *reconcilev1.EraseRecordRequest) (*reconcilev1.EraseRecordResponse, error) {
	out, err := a.accept(ctx, req.GetRecord(), KindErase)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.EraseRecordResponse{Id: out.ID, LeafHash: hex0x(out.Leaf[:])}, nil
}

// GetRecord implements EvidenceService.
func (a *API) GetRecord(ctx context.Context, req *reconcilev1.GetRecordRequest) (*reconcilev1.GetRecordResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	r, err := s.GetRecord(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &reconcilev1.GetRecordResponse{Record: RecordInfoToProto(r)}, nil
}

func pageSize(n int32, def, maxN int) int {
	switch {
	case n <= 0:
		return def
	case int(n) > maxN:
		return maxN
	}
	return int(n)
}

func cursor(token string) (int64, error) {
	if token == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(token, 10, 64)
	if err != nil || n < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "page_token %q: not one this service returned", token)
	}
	return n, nil
}

// ListRecords implements EvidenceService.
func (a *API) ListRecords(ctx context.Context, req *reconcilev1.ListRecordsRequest) (*reconcilev1.ListRecordsResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	after, err := cursor(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	f := RecordFilter{Publisher: req.GetPublisher(), Category: req.GetCategory(), Kind: req.GetKind(), Status: req.GetStatus(),
		Batch: req.GetBatch(), AfterSeq: after, Limit: pageSize(req.GetPageSize(), 100, 1000)}
	if req.GetAcceptedAfter() != nil {
		f.After = req.GetAcceptedAfter().AsTime()
	}
	if req.GetAcceptedBefore() != nil {
		f.Before = req.GetAcceptedBefore().AsTime()
	}
	rows, err := s.ListRecords(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &reconcilev1.ListRecordsResponse{}
	for _, r := range rows {
		out.Records = append(out.Records, RecordInfoToProto(r))
	}
	if len(rows) == f.Limit {
		out.NextPageToken = strconv.FormatInt(rows[len(rows)-1].Seq, 10)
	}
	return out, nil
}

// GetProof implements EvidenceService.
func (a *API) GetProof(ctx context.Context, req *reconcilev1.GetProofRequest) (*reconcilev1.GetProofResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	p, err := s.Proof(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	j, err := json.Marshal(p)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "proof of %s as JSON: %v", req.GetId(), err)
	}
	return &reconcilev1.GetProofResponse{Proof: ProofToProto(p, req.GetId()), ProofJson: string(j)}, nil
}

// SubscribeRecords implements EvidenceService.
func (a *API) SubscribeRecords(req *reconcilev1.SubscribeRecordsRequest, stream reconcilev1.EvidenceService_SubscribeRecordsServer) error {
	s, err := a.get()
	if err != nil {
		return err
	}
	return s.Subscribe(stream.Context(), req.GetAfterSeq(), func(e *Event) error {
		return stream.Send(&reconcilev1.SubscribeRecordsResponse{Event: EventToProto(e, s.cfg.Chain, s.cfg.Group)})
	})
}

// ListBatches implements EvidenceService.
func (a *API) ListBatches(ctx context.Context, req *reconcilev1.ListBatchesRequest) (*reconcilev1.ListBatchesResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	before, err := cursor(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	limit := pageSize(req.GetPageSize(), 100, 1000)
	bs, err := s.ListBatches(ctx, req.GetState(), before, limit)
	if err != nil {
		return nil, err
	}
	out := &reconcilev1.ListBatchesResponse{}
	for _, b := range bs {
		out.Batches = append(out.Batches, BatchToProto(b))
	}
	if len(bs) == limit {
		out.NextPageToken = strconv.FormatInt(bs[len(bs)-1].Number, 10)
	}
	return out, nil
}

// GetBatch implements EvidenceService.
func (a *API) GetBatch(ctx context.Context, req *reconcilev1.GetBatchRequest) (*reconcilev1.GetBatchResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	var id []byte
	if req.GetNumber() == 0 {
		if id, err = unhex(req.GetBatchId()); err != nil || len(id) != 32 {
			return nil, status.Errorf(codes.InvalidArgument, "batch_id %q: want 32 bytes of 0x hex, or a number", req.GetBatchId())
		}
	}
	b, err := s.GetBatch(ctx, req.GetNumber(), id)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.GetBatchResponse{Batch: BatchToProto(b)}, nil
}

// VerifyEvidence implements EvidenceService.
func (a *API) VerifyEvidence(ctx context.Context, _ *reconcilev1.VerifyEvidenceRequest) (*reconcilev1.VerifyEvidenceResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	v, err := s.Verify(ctx, "api")
	if err != nil {
		return nil, err
	}
	return &reconcilev1.VerifyEvidenceResponse{Verification: VerificationToProto(v)}, nil
}

// GetVerification implements EvidenceService.
func (a *API) GetVerification(ctx context.Context, req *reconcilev1.GetVerificationRequest) (*reconcilev1.GetVerificationResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	v, err := s.GetVerification(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &reconcilev1.GetVerificationResponse{Verification: VerificationToProto(v)}, nil
}

// ListVerifications implements EvidenceService.
func (a *API) ListVerifications(ctx context.Context, req *reconcilev1.ListVerificationsRequest) (*reconcilev1.ListVerificationsResponse, error) {
	s, err := a.get()
	if err != nil {
		return nil, err
	}
	before, err := cursor(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	limit := pageSize(req.GetPageSize(), 20, 100)
	vs, err := s.ListVerifications(ctx, before, limit)
	if err != nil {
		return nil, err
	}
	out := &reconcilev1.ListVerificationsResponse{}
	for _, v := range vs {
		out.Verifications = append(out.Verifications, VerificationToProto(v))
	}
	if len(vs) == limit {
		out.NextPageToken = strconv.FormatInt(vs[len(vs)-1].ID, 10)
	}
	return out, nil
}

// VerificationToProto is the API view of a verification run.
func VerificationToProto(v *Verification) *reconcilev1.Verification {
	p := &reconcilev1.Verification{Id: v.ID, State: v.State, Trigger: v.Trigger, StartedAt: ts(v.Started), FinishedAt: tsp(v.Finished),
		RecordsChecked: v.RecordsChecked, BatchesChecked: v.BatchesChecked, SegmentsChecked: v.SegmentsChecked, Error: v.Error}
	for _, f := range v.Findings {
		p.Findings = append(p.Findings, &reconcilev1.Finding{Kind: f.Kind, RecordId: f.RecordID, Batch: f.Batch, Detail: f.Detail})
	}
	return p
}
