package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/stash/internal/store"
	"github.com/bcosdata/bcosdata/services/stash/internal/verify"
)

// Checks VerifyRange adds to the verifier's: the stored senders, digest and checkpoint must be
// what the stored block yields again.
const (
	checkStoredSenders    = "stored-senders"
	checkStoredDigest     = "stored-digest"
	checkStoredCheckpoint = "stored-checkpoint"
)

// verifyWindow is how many stored blocks are loaded and verified together.
const verifyWindow = 64

// maxReportedFailures bounds the failures one VerifyRange reports.
const maxReportedFailures = 100

// VerifyRange implements StashServiceServer: it re-verifies stored blocks from what the stash
// holds (the block bytes, the mirrored rows of each block, the recorded senders, digests and
// checkpoints) with every check a freshly read block gets, in parallel, and streams progress
// about once a second. Failures do not stop it; the last message has done set.
func (s *Server) VerifyRange(req *stashv1.VerifyRangeRequest, stream stashv1.StashService_VerifyRangeServer) error {
	b, err := s.ready()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	prog, err := b.Store.Progress(ctx)
	if err != nil {
		return storeError(err)
	}
	if !prog.HasVerified {
		return status.Error(codes.FailedPrecondition, "the stash holds no blocks yet")
	}
	from, to := req.GetFromBlock(), req.GetToBlock()
	if to == 0 {
		to = prog.LastVerified
	}
	if from < prog.FirstBlock || to > prog.LastVerified || from > to {
		return status.Errorf(codes.OutOfRange, "from_block %d to_block %d: the stash holds blocks %d-%d", from, to, prog.FirstBlock, prog.LastVerified)
	}
	var tip verify.Tip
	if from == prog.FirstBlock {
		tip = verify.Tip{Next: from}
	} else if tip, err = b.Store.TipAfter(ctx, from-1); err != nil {
		return storeError(err)
	}
	chain := verify.NewChain(tip, s.verifier.Suite())
	resp := &stashv1.VerifyRangeResponse{Total: to - from + 1}
	lastSent := time.Now()
	fail := func(n uint64, source, check string, err error) {
		if len(resp.Failures) < maxReportedFailures {
			resp.Failures = append(resp.Failures, &stashv1.VerificationFailure{BlockNumber: n, Check: check, Message: err.Error(),
				Source: source, Time: timestamppb.Now()})
		}
	}
	for lo := from; lo <= to; lo += verifyWindow {
		hi := min(lo+verifyWindow-1, to)
		stored := make([]*verify.Block, 0, hi-lo+1)
		for n := lo; n <= hi; n++ {
			blk, err := b.Store.Load(ctx, n)
			if err != nil {
				return storeError(err)
			}
			stored = append(stored, blk)
		}
		checked, errs := s.checkAll(stored)
		for i, st := range stored {
			n := st.Number
			resp.Current = n
			if errs[i] != nil {
				check, _ := verify.IsCheckError(errs[i])
				fail(n, st.Source, check, errs[i])
				if chain, err = s.resetChain(ctx, b.Store, n); err != nil {
					return storeError(err)
				}
				continue
			}
			c := checked[i]
			ok := true
			if !slices.Equal(c.Senders, st.Senders) {
				fail(n, st.Source, checkStoredSenders, errors.New("stored senders differ from the senders the signatures recover"))
				ok = false
			}
			if ok && c.Digest != st.Digest {
				fail(n, st.Source, checkStoredDigest, fmt.Errorf("stored digest %x, the stored rows give %x", st.Digest[:8], c.Digest[:8]))
				ok = false
			}
			// One failure per block: after a bad digest the checkpoint would differ too.
			if ok {
				if err := chain.Accept(c); err != nil {
					check, _ := verify.IsCheckError(err)
					fail(n, st.Source, check, err)
					ok = false
				} else if !bytes.Equal(c.Checkpoint[:], st.Checkpoint[:]) {
					fail(n, st.Source, checkStoredCheckpoint, fmt.Errorf("stored checkpoint %x, recomputed %x", st.Checkpoint[:8], c.Checkpoint[:8]))
					ok = false
				}
			}
			if !ok {
				if chain, err = s.resetChain(ctx, b.Store, n); err != nil {
					return storeError(err)
				}
				continue
			}
			resp.Verified++
		}
		if time.Since(lastSent) >= time.Second && hi < to {
			if err := stream.Send(resp); err != nil {
				return err
			}
			resp.Failures = nil
			lastSent = time.Now()
		}
	}
	resp.Done = true
	return stream.Send(resp)
}

// checkAll runs the stateless checks on stored blocks in parallel.
func (s *Server) checkAll(stored []*verify.Block) ([]*verify.Block, []error) {
	out := make([]*verify.Block, len(stored))
	errs := make([]error, len(stored))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, st := range stored {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := verify.StoredCandidate(st)
			if err != nil {
				errs[i] = &verify.CheckError{Block: st.Number, Check: verify.CheckRecord, Source: st.Source, Err: err}
				return
			}
			out[i], errs[i] = s.verifier.Check(c)
			if out[i] != nil {
				out[i].Source = st.Source
			}
		})
	}
	wg.Wait()
	return out, errs
}

// resetChain continues the re-verification after a failed block from what the stash stored
// for it.
func (s *Server) resetChain(ctx context.Context, st *store.Store, n uint64) (*verify.Chain, error) {
	tip, err := st.TipAfter(ctx, n)
	if err != nil {
		return nil, err
	}
	return verify.NewChain(tip, s.verifier.Suite()), nil
}

// snapshotPageRows is the rows per Snapshot message.
const snapshotPageRows = 500

// Snapshot implements StashServiceServer: the latest version of every row of every mirrored
// table (or of the tables asked for) as of a block, deleted rows included (status 1), from one
// consistent read of the database: the basis of a fast sync for a new node.
func (s *Server) Snapshot(req *stashv1.SnapshotRequest, stream stashv1.StashService_SnapshotServer) error {
	b, err := s.ready()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	n := req.GetBlockNumber()
	if n == 0 {
		prog, err := b.Store.Progress(ctx)
		if err != nil {
			return storeError(err)
		}
		if !prog.HasVerified {
			return status.Error(codes.FailedPrecondition, "the stash holds no blocks yet")
		}
		n = prog.LastVerified
	}
	err = b.Store.Snapshot(ctx, n, req.GetTables(), snapshotPageRows, func(p store.SnapshotPage) error {
		resp := &stashv1.SnapshotResponse{Table: p.Table, RowBlockNumbers: p.Nums, KeyField: p.KeyField, ValueFields: p.Fields}
		for i := range p.Rows {
			resp.Rows = append(resp.Rows, stateRowView(&p.Rows[i]))
		}
		return stream.Send(resp)
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return status.Error(codes.OutOfRange, err.Error())
		}
		return storeError(err)
	}
	return nil
}
