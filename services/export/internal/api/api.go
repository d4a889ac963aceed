// Package api serves bcosdata.export.v1.ExportService: blocks, transactions and the decoded
// events and calls of the registered contracts from export's tables (lists paged by keyset on
// their natural order, parameter filters on the typed tables' columns), live subscriptions
// from the outbox, the registered contracts, and the export's status (exported height, lag,
// halted partitions, last error, rows per typed table) from the store and the running
// consumer. Inputs are checked before any query: a bad one is InvalidArgument naming its
// field; before the storage is open every call but Status is Unavailable.
package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/kafka"
	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
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
	// Contracts are the registered contracts: the -contracts file's in file order, then those
	// registered over the API; set them with WithContracts.
	Contracts []*contract.Contract
	// txTables are the Contracts' typed tables as GetTransaction reads them.
	txTables *store.TxTables
	// Register registers a contract over the API and starts decoding its stored history
	// (nil: not served). Errors wrapping ErrBadContract are the request's fault.
	Register func(ctx context.Context, r contract.Registered) (*contract.Contract, error)
	// ReExport starts decoding contracts' stored history in [from, to] again (nil ends: the
	// stored range) and returns the range; Backfill returns a contract's last re-export.
	ReExport func(ks []*contract.Contract, from, to *uint64) (lo, hi uint64, err error)
	Backfill func(name string) (Backfill, bool)
	// Wakeup wakes subscriptions when messages are committed (nil: they poll only);
	// SubscribePoll is how often they look without it (0: DefaultSubscribePoll).
	Wakeup        *Wakeup
	SubscribePoll time.Duration
}

// WithContracts returns b serving the registered contracts ks.
func (b Backend) WithContracts(ks []*contract.Contract) *Backend {
	var tables []*contract.Table
	for _, k := range ks {
		tables = append(tables, k.Tables...)
	}
	b.Contracts, b.txTables = ks, store.NewTxTables(tables)
	return &b
}

// ErrBadContract marks a registration its contract's own content makes impossible (a bad
// ABI or bytecode, a taken name, address or table name).
var ErrBadContract = errors.New("contract refused")

// ErrContractExists marks a registration of a name already registered otherwise.
var ErrContractExists = errors.New("contract exists")

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
func (s *Server) Status(ctx context.Context, req *exportv1.StatusRequest) (*exportv1.StatusResponse, error) {
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
	if req.GetIncludeContractRows() {
		rows, err := contractRows(ctx, b)
		if err != nil {
			return nil, err
		}
		resp.ContractRows = rows
	}
	return resp, nil
}

// contractRows counts the rows of every typed table.
func contractRows(ctx context.Context, b *Backend) ([]*exportv1.ContractRows, error) {
	var names []string
	for _, k := range b.Contracts {
		for _, t := range k.Tables {
			names = append(names, t.Name)
		}
	}
	counts, err := b.Store.TableRows(ctx, names)
	if err != nil {
		return nil, storeErr(ctx, err)
	}
	var out []*exportv1.ContractRows
	for _, k := range b.Contracts {
		cr := &exportv1.ContractRows{Contract: k.Name}
		for _, t := range k.Tables {
			n := uint64(counts[t.Name])
			cr.Tables = append(cr.Tables, &exportv1.TableRows{Table: t.Name, Signature: t.Signature, Kind: kindProto(t.Kind), Rows: n})
			if t.Kind == contract.EventTable {
				cr.Events += n
			} else {
				cr.Calls += n
			}
		}
		out = append(out, cr)
	}
	return out, nil
}

func kindProto(k contract.Kind) exportv1.ItemKind {
	switch k {
	case contract.EventTable:
		return exportv1.ItemKind_ITEM_KIND_EVENT
	case contract.MethodTable:
		return exportv1.ItemKind_ITEM_KIND_METHOD
	case contract.ConstructorTable:
		return exportv1.ItemKind_ITEM_KIND_CONSTRUCTOR
	}
	return exportv1.ItemKind_ITEM_KIND_UNSPECIFIED
}
