// Package api serves bcosdata.stash.v1.StashService: the pipeline's status, stored blocks and
// change-sets, re-verification of stored blocks and snapshots of the mirrored storage.
package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/health"
	"github.com/bcosdata/bcosdata/services/stash/internal/ingest"
	"github.com/bcosdata/bcosdata/services/stash/internal/publish"
	"github.com/bcosdata/bcosdata/services/stash/internal/source"
	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Backend is what the API reads: the running pipeline and the store (either may be nil while
// the service is starting), the dependencies' states and the configured sources.
type Backend struct {
	Pipeline *ingest.Pipeline
	Store    *store.Store
	Health   *health.Tracker
	Sources  []source.Source
}

// Server implements StashServiceServer.
type Server struct {
	stashv1.UnimplementedStashServiceServer
	chain    publish.Chain
	verifier *verify.Verifier
	backend  func() Backend
}

// New returns a server; backend is called per request, so the service can start serving
// before its database is reachable.
func New(chain publish.Chain, v *verify.Verifier, backend func() Backend) *Server {
	return &Server{chain: chain, verifier: v, backend: backend}
}

func (s *Server) ready() (Backend, error) {
	b := s.backend()
	if b.Pipeline == nil || b.Store == nil {
		return b, status.Error(codes.Unavailable, "stash is starting: storage not open yet")
	}
	return b, nil
}

// Status implements StashServiceServer. It answers while the service is starting too: the
// progress fields are then empty and the dependencies say what it waits for.
func (s *Server) Status(context.Context, *stashv1.StatusRequest) (*stashv1.StatusResponse, error) {
	b := s.backend()
	resp := &stashv1.StatusResponse{Chain: s.chain.Name, Group: uint32(s.chain.Group)}
	var deps map[string]health.State
	if b.Health != nil {
		states := b.Health.States()
		deps = make(map[string]health.State, len(states))
		for _, d := range states {
			deps[d.Name] = d
			resp.Dependencies = append(resp.Dependencies, &stashv1.Dependency{Name: d.Name, Ready: d.Ready, Error: d.Err, Since: timestamppb.New(d.Since)})
		}
	}
	if b.Pipeline == nil {
		for _, src := range b.Sources {
			ss := &stashv1.SourceStatus{Source: src.Name(), Ready: true}
			if d, ok := deps[health.SourceName(src.Name())]; ok {
				ss.Ready, ss.ReadySince = d.Ready, timestamppb.New(d.Since)
			}
			ss.HeadSeen, _ = src.Stats().Head()
			if e, at := src.Stats().LastError(); e != "" {
				ss.LastError, ss.LastErrorTime = e, timestamppb.New(at)
			}
			resp.Sources = append(resp.Sources, ss)
		}
		return resp, nil
	}
	st := b.Pipeline.Status()
	if st.HasVerified {
		resp.LastVerified = st.LastVerified
		resp.Checkpoint = hexOf(st.Checkpoint[:])
	}
	if st.HasPublished {
		resp.LastPublished = st.LastPublished
	}
	if f := st.Failure; f != nil {
		resp.Failure = &stashv1.VerificationFailure{BlockNumber: f.Block, Check: f.Check, Message: f.Message,
			Source: f.Source, File: f.File, Offset: f.Offset, Time: timestamppb.New(f.Time)}
	}
	for _, ss := range st.Sources {
		src := &stashv1.SourceStatus{Source: ss.Name, HeadSeen: ss.Head, LastVerified: ss.LastVerified,
			LastPublished: ss.LastPublished, Lag: ss.Lag, LastError: ss.LastError, DownloadBytes: uint64(ss.DownloadBytes), Ready: ss.Ready}
		if !ss.ReadySince.IsZero() {
			src.ReadySince = timestamppb.New(ss.ReadySince)
		}
		if !ss.LastErrorTime.IsZero() && ss.LastError != "" {
			src.LastErrorTime = timestamppb.New(ss.LastErrorTime)
		}
		resp.Sources = append(resp.Sources, src)
	}
	return resp, nil
}

// GetBlock implements StashServiceServer.
func (s *Server) GetBlock(ctx context.Context, req *stashv1.GetBlockRequest) (*stashv1.GetBlockResponse, error) {
	b, err := s.ready()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch sel := req.GetSelector().(type) {
	case *stashv1.GetBlockRequest_BlockNumber:
		n = sel.BlockNumber
	case *stashv1.GetBlockRequest_BlockHash:
		h, err := parseHash(sel.BlockHash)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "block_hash %q: %v", sel.BlockHash, err)
		}
		if n, err = b.Store.NumberByHash(ctx, h); err != nil {
			return nil, storeError(err)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "select a block by block_number or block_hash")
	}
	blk, err := b.Store.Load(ctx, n)
	if err != nil {
		return nil, storeError(err)
	}
	s.verifier.Rehash(blk)
	return &stashv1.GetBlockResponse{Block: BlockView(s.chain.BlockMessage(blk))}, nil
}

// GetStateChanges implements StashServiceServer.
func (s *Server) GetStateChanges(ctx context.Context, req *stashv1.GetStateChangesRequest) (*stashv1.GetStateChangesResponse, error) {
	b, err := s.ready()
	if err != nil {
		return nil, err
	}
	blk, err := b.Store.Load(ctx, req.GetBlockNumber())
	if err != nil {
		return nil, storeError(err)
	}
	if !blk.HasState {
		return nil, status.Errorf(codes.FailedPrecondition, "block %d was read over JSON-RPC: the stash has no change-set for it", blk.Number)
	}
	return &stashv1.GetStateChangesResponse{StateChange: StateChangeView(s.chain.StateMessage(blk))}, nil
}

// parseHash reads a 32-byte hash in hex, with or without 0x.
func parseHash(s string) (common.Hash, error) {
	raw := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(raw)
	if err != nil {
		return common.Hash{}, errors.New("not hex")
	}
	if len(b) != common.HashLength {
		return common.Hash{}, fmt.Errorf("%d bytes, want %d", len(b), common.HashLength)
	}
	return common.Hash(b), nil
}

func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
