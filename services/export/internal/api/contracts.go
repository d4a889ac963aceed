package api

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Backfill is the progress of a re-export of one contract.
type Backfill struct {
	Running           bool
	Pass              string
	From, To, Done    uint64
	Items             uint64
	Started, Finished time.Time
	Err               error
}

// ErrNothingToReExport reports a ReExport whose range holds no stored block.
var ErrNothingToReExport = errors.New("nothing to re-export")

// ErrReExportRunning reports a ReExport of a contract whose previous one still runs.
var ErrReExportRunning = errors.New("a re-export of this contract is running")

func backfillOf(b Backfill) *exportv1.Backfill {
	out := &exportv1.Backfill{Running: b.Running, Pass: b.Pass, FromBlock: b.From, ToBlock: b.To, DoneBlock: b.Done, Items: b.Items,
		StartedAt: timestamppb.New(b.Started)}
	if !b.Finished.IsZero() {
		out.FinishedAt = timestamppb.New(b.Finished)
	}
	if b.Err != nil {
		out.Error = b.Err.Error()
	}
	return out
}

// contractOf describes a registered contract: its tables from the registry, its deployments
// and backfill state from the store (the stored fingerprint is set once its history is
// decoded).
func contractOf(ctx context.Context, b *Backend, k *contract.Contract, recs map[string]store.ContractRecord) (*exportv1.Contract, error) {
	out := &exportv1.Contract{Name: k.Name, Learn: k.Learn, Abi: string(k.ABI), Backfilled: len(recs[k.Name].Fingerprint) > 0}
	deps, err := b.Store.DeploymentsOf(ctx, k.Name)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	for _, d := range deps {
		out.Deployments = append(out.Deployments, &exportv1.Deployment{Address: hexOf(d.Address), BlockNumber: d.BlockNumber,
			TransactionHash: hexOf(d.TxHash), Learned: d.Learned})
	}
	if b.Backfill != nil {
		if p, ok := b.Backfill(k.Name); ok {
			out.Backfill = backfillOf(p)
		}
	}
	for _, t := range k.Tables {
		tp := &exportv1.Table{Name: t.Name, Kind: kindProto(t.Kind), Item: t.Item, Signature: t.Signature, Id: hexOf(t.ID)}
		for _, c := range t.Columns {
			tp.Columns = append(tp.Columns, &exportv1.Column{Name: c.Name, Param: c.Param, AbiType: c.ABIType, SqlType: c.SQLType,
				Indexed: c.Indexed, Output: c.Output})
		}
		out.Tables = append(out.Tables, tp)
	}
	return out, nil
}

// ListContracts lists the registered contracts.
func (s *Server) ListContracts(ctx context.Context, _ *exportv1.ListContractsRequest) (*exportv1.ListContractsResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	recs, err := b.Store.Contracts(ctx)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.ListContractsResponse{}
	for _, k := range b.Contracts {
		c, err := contractOf(ctx, b, k, recs)
		if err != nil {
			return nil, err
		}
		resp.Contracts = append(resp.Contracts, c)
	}
	return resp, nil
}

// GetContract returns a registered contract by name or by a deployment's address.
func (s *Server) GetContract(ctx context.Context, req *exportv1.GetContractRequest) (*exportv1.GetContractResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	var k *contract.Contract
	switch sel := req.GetContract().(type) {
	case *exportv1.GetContractRequest_Name:
		var err error
		if k, err = b.named("name", sel.Name); err != nil {
			return nil, err
		}
	case *exportv1.GetContractRequest_Address:
		addr, err := optAddress("address", sel.Address)
		if err != nil {
			return nil, err
		}
		if addr == nil {
			return nil, invalid("address", "empty")
		}
		known, err := b.Store.Deployments(ctx, [][]byte{addr})
		if err != nil {
			return nil, storeErr(ctx, err)
		}
		if k = b.contract(known[string(addr)]); k == nil {
			return nil, status.Errorf(codes.NotFound, "no registered contract is known at %s", hexOf(addr))
		}
	default:
		return nil, invalid("name", "give name or address")
	}
	recs, err := b.Store.Contracts(ctx)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	c, err := contractOf(ctx, b, k, recs)
	if err != nil {
		return nil, err
	}
	return &exportv1.GetContractResponse{Contract: c}, nil
}

// RegisterContract registers a contract as a -contracts entry would, for every instance, and
// decodes its stored history in the background (GetContract shows the backfill). Registering
// the same contract again answers it unchanged.
func (s *Server) RegisterContract(ctx context.Context, req *exportv1.RegisterContractRequest) (*exportv1.RegisterContractResponse, error) {
	b := s.backend()
	if b == nil {
		return nil, errNotOpen
	}
	if b.Register == nil {
		return nil, status.Error(codes.Unimplemented, "RegisterContract is not served by this instance")
	}
	switch {
	case strings.TrimSpace(req.GetName()) == "":
		return nil, invalid("name", "missing")
	case strings.TrimSpace(req.GetAbi()) == "":
		return nil, invalid("abi", "missing: the ABI JSON array")
	}
	r := contract.Registered{Name: req.GetName(), ABI: []byte(req.GetAbi()), Learn: req.GetLearn(), Addresses: req.GetAddresses()}
	if req.GetBin() != "" {
		r.Bin = []byte(req.GetBin())
	}
	k, err := b.Register(ctx, r)
	switch {
	case errors.Is(err, ErrBadContract):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrContractExists):
		return nil, status.Error(codes.AlreadyExists, err.Error())
	case err != nil:
		return nil, storeErr(ctx, err)
	}
	recs, err := b.Store.Contracts(ctx)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	c, err := contractOf(ctx, b, k, recs)
	if err != nil {
		return nil, err
	}
	return &exportv1.RegisterContractResponse{Contract: c}, nil
}

// ReExport starts decoding the stored history of one contract (or all) in a block range
// again, in the background; GetContract shows its progress.
func (s *Server) ReExport(ctx context.Context, req *exportv1.ReExportRequest) (*exportv1.ReExportResponse, error) {
	b := s.backend()
	if b == nil || b.ReExport == nil {
		return nil, errNotOpen
	}
	if req.FromBlock != nil && req.ToBlock != nil && *req.FromBlock > *req.ToBlock {
		return nil, invalid("to_block", "%d is before from_block %d", *req.ToBlock, *req.FromBlock)
	}
	ks := b.Contracts
	if req.GetContract() != "" {
		k, err := b.named("contract", req.GetContract())
		if err != nil {
			return nil, err
		}
		ks = []*contract.Contract{k}
	}
	if len(ks) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "no contract is registered: nothing to re-export")
	}
	lo, hi, err := b.ReExport(ks, req.FromBlock, req.ToBlock)
	switch {
	case errors.Is(err, ErrNothingToReExport):
		return nil, invalid("from_block", "%v", err)
	case errors.Is(err, ErrReExportRunning):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return nil, storeErr(ctx, err)
	}
	resp := &exportv1.ReExportResponse{FromBlock: lo, ToBlock: hi}
	for _, k := range ks {
		resp.Contracts = append(resp.Contracts, k.Name)
	}
	return resp, nil
}
