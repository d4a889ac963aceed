// Package api serves bcosdata.export.v1.ExportService: the export's status (exported height,
// lag, halted partitions, last error) from the store and the running consumer.
package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/kafka"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// Backend is what the API reads; a nil Store means the storage is not open yet.
type Backend struct {
	Store   *store.Store
	GroupID string
	// EventsTopic and CallsTopic count the queued messages of each.
	EventsTopic, CallsTopic string
	// Halts returns the halted partitions of the blocks topic.
	Halts func() []kafka.Halt
	// Lag returns the last measured lag, false before the first measurement.
	Lag func() (uint64, bool)
}

// Server implements ExportService.
type Server struct {
	exportv1.UnimplementedExportServiceServer
	backend func() *Backend
	// LastError returns the failure being retried, nil when none.
	lastError func() error
}

// New returns the API; backend returns nil until the storage is open.
func New(backend func() *Backend, lastError func() error) *Server {
	return &Server{backend: backend, lastError: lastError}
}

// Status answers from the start: before the storage is open it has only the last error.
func (s *Server) Status(ctx context.Context, _ *exportv1.StatusRequest) (*exportv1.StatusResponse, error) {
	resp := &exportv1.StatusResponse{}
	if err := s.lastError(); err != nil {
		resp.LastError = err.Error()
	}
	b := s.backend()
	if b == nil {
		return resp, nil
	}
	resp.GroupId = b.GroupID
	p, err := b.Store.Progress(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp.LastBlock, resp.HasHeight, resp.Blocks, resp.SkippedBlocks, resp.StartBlock = p.Height, p.HasHeight, p.Blocks, p.Skipped, p.Start.Block
	if !p.Start.Time.IsZero() {
		resp.StartTime = timestamppb.New(p.Start.Time)
	}
	counts, err := b.Store.Counts(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	resp.Events, resp.Calls, resp.OutboxBacklog, resp.DecodeFailures = counts.Events, counts.Calls, counts.Backlog, counts.Failures
	if lag, ok := b.Lag(); ok {
		resp.LagBlocks = lag
	}
	for _, h := range b.Halts() {
		resp.HaltedPartitions = append(resp.HaltedPartitions, &exportv1.HaltedPartition{Topic: h.Topic, Partition: int32(h.Partition),
			Offset: h.Offset, BlockNumber: h.Block, HasBlock: h.HasBlock, Error: fmt.Sprint(h.Err), Time: timestamppb.New(h.Time)})
	}
	return resp, nil
}
