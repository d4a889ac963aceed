// Package api is the gRPC ReconcileService: jobs (from the -jobs file, and created over the
// API and kept in the database), runs, results and the consumer's status.
package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bcosdata/bcosdata/libs/kafka"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/run"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// Origins of jobs.
const (
	OriginFile = "file"
	OriginAPI  = "api"
)

// Jobs holds the jobs of the -jobs file and reads those created over the API from the
// database.
type Jobs struct {
	file map[string]*job.Job
	st   *store.Store

	mu sync.Mutex
	// onChange is called after an API job changed (the scheduler reloads).
	onChange func()
}

// NewJobs returns the jobs of the -jobs file (validated) and of st.
func NewJobs(file []job.Job, st *store.Store, onChange func()) *Jobs {
	j := &Jobs{file: make(map[string]*job.Job), st: st, onChange: onChange}
	for i := range file {
		j.file[file[i].Name] = &file[i]
	}
	if j.onChange == nil {
		j.onChange = func() {}
	}
	return j
}

// ErrNoJob is returned for a job that does not exist.
var ErrNoJob = errors.New("no such job")

// Get returns a job and where it comes from.
func (js *Jobs) Get(ctx context.Context, name string) (*job.Job, string, error) {
	if j, ok := js.file[name]; ok {
		return j, OriginFile, nil
	}
	if js.st == nil {
		return nil, "", fmt.Errorf("job %q: %w", name, ErrNoJob)
	}
	all, err := js.st.Jobs(ctx)
	if err != nil {
		return nil, "", err
	}
	spec, ok := all[name]
	if !ok {
		return nil, "", fmt.Errorf("job %q: %w", name, ErrNoJob)
	}
	j, err := run.ParseJob(spec)
	if err != nil {
		return nil, "", fmt.Errorf("stored job %q: %w", name, err)
	}
	return j, OriginAPI, nil
}

// Job is Get for the runner.
func (js *Jobs) Job(ctx context.Context, name string) (*job.Job, error) {
	j, _, err := js.Get(ctx, name)
	return j, err
}

// JobWithOrigin is a job and where it comes from.
type JobWithOrigin struct {
	Job    *job.Job
	Origin string
}

// List returns every job by name.
func (js *Jobs) List(ctx context.Context) ([]JobWithOrigin, error) {
	var out []JobWithOrigin
	for _, j := range js.file {
		out = append(out, JobWithOrigin{j, OriginFile})
	}
	if js.st != nil {
		all, err := js.st.Jobs(ctx)
		if err != nil {
			return nil, err
		}
		for name, spec := range all {
			if _, ok := js.file[name]; ok {
				continue
			}
			j, err := run.ParseJob(spec)
			if err != nil {
				return nil, fmt.Errorf("stored job %q: %w", name, err)
			}
			out = append(out, JobWithOrigin{j, OriginAPI})
		}
	}
	slices.SortFunc(out, func(a, b JobWithOrigin) int { return strings.Compare(a.Job.Name, b.Job.Name) })
	return out, nil
}

// Backend is what the server needs once the service runs.
type Backend struct {
	Store   *store.Store
	Jobs    *Jobs
	Runner  *run.Runner
	Chain   string
	Group   uint
	GroupID string
	Halts   func() []kafka.Halt
	Lag     func() (uint64, bool)
	Metrics *run.Metrics
}

// Server implements ReconcileService.
type Server struct {
	reconcilev1.UnimplementedReconcileServiceServer
	backend func() *Backend
	lastErr func() error
}

// New returns the server; backend returns nil until the service runs (calls answer
// Unavailable then).
func New(backend func() *Backend, lastErr func() error) *Server {
	return &Server{backend: backend, lastErr: lastErr}
}

func (s *Server) be() (*Backend, error) {
	b := s.backend()
	if b == nil {
		msg := "reconcile is starting"
		if err := s.lastErr(); err != nil {
			msg += ": " + err.Error()
		}
		return nil, status.Error(codes.Unavailable, msg)
	}
	return b, nil
}

// toStatus maps errors to gRPC codes.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoJob), errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, run.ErrInvalid), errors.Is(err, job.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// CreateJob validates and stores a new job.
func (s *Server) CreateJob(ctx context.Context, req *reconcilev1.CreateJobRequest) (*reconcilev1.CreateJobResponse, error) {
	j, err := s.putJob(ctx, req.GetJob(), true)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.CreateJobResponse{Job: JobToProto(j, OriginAPI)}, nil
}

// UpdateJob validates and replaces a job created over the API.
func (s *Server) UpdateJob(ctx context.Context, req *reconcilev1.UpdateJobRequest) (*reconcilev1.UpdateJobResponse, error) {
	j, err := s.putJob(ctx, req.GetJob(), false)
	if err != nil {
		return nil, err
	}
	return &reconcilev1.UpdateJobResponse{Job: JobToProto(j, OriginAPI)}, nil
}

func (s *Server) putJob(ctx context.Context, p *reconcilev1.Job, create bool) (*job.Job, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, invalid("job", "missing")
	}
	if _, ok := b.Jobs.file[p.GetName()]; ok {
		return nil, status.Errorf(codes.FailedPrecondition, "job.name %q: a job of the -jobs file; change it there", p.GetName())
	}
	j := JobFromProto(p)
	if err := j.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	spec, err := run.MarshalJob(j)
	if err != nil {
		return nil, toStatus(err)
	}
	b.Jobs.mu.Lock()
	defer b.Jobs.mu.Unlock()
	if err := b.Store.PutJob(ctx, j.Name, spec, create); err != nil {
		return nil, toStatus(err)
	}
	b.Jobs.onChange()
	return j, nil
}

// GetJob returns a job.
func (s *Server) GetJob(ctx context.Context, req *reconcilev1.GetJobRequest) (*reconcilev1.GetJobResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalid("name", "empty")
	}
	j, origin, err := b.Jobs.Get(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &reconcilev1.GetJobResponse{Job: JobToProto(j, origin)}, nil
}

// ListJobs returns every job.
func (s *Server) ListJobs(ctx context.Context, _ *reconcilev1.ListJobsRequest) (*reconcilev1.ListJobsResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	all, err := b.Jobs.List(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &reconcilev1.ListJobsResponse{}
	for _, j := range all {
		out.Jobs = append(out.Jobs, JobToProto(j.Job, j.Origin))
	}
	return out, nil
}

// DeleteJob removes a job created over the API.
func (s *Server) DeleteJob(ctx context.Context, req *reconcilev1.DeleteJobRequest) (*reconcilev1.DeleteJobResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalid("name", "empty")
	}
	if _, ok := b.Jobs.file[req.GetName()]; ok {
		return nil, status.Errorf(codes.FailedPrecondition, "name %q: a job of the -jobs file; remove it there", req.GetName())
	}
	if err := b.Store.DeleteJob(ctx, req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	b.Jobs.onChange()
	return &reconcilev1.DeleteJobResponse{}, nil
}

// TriggerRun adds a run.
func (s *Server) TriggerRun(ctx context.Context, req *reconcilev1.TriggerRunRequest) (*reconcilev1.TriggerRunResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	r, err := b.Runner.Trigger(ctx, req.GetJob(), req.GetBusinessDate(), req.GetFileUri())
	if err != nil {
		return nil, toStatus(err)
	}
	if b.Metrics != nil {
		b.Metrics.Triggers.WithLabelValues("api").Inc()
	}
	return &reconcilev1.TriggerRunResponse{Run: RunToProto(r, b.Chain, b.Group)}, nil
}

func runID(field, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, invalid(field, "%q: want a run id (a positive integer)", s)
	}
	return id, nil
}

// GetRun returns a run.
func (s *Server) GetRun(ctx context.Context, req *reconcilev1.GetRunRequest) (*reconcilev1.GetRunResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	id, err := runID("run_id", req.GetRunId())
	if err != nil {
		return nil, err
	}
	r, err := b.Store.GetRun(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &reconcilev1.GetRunResponse{Run: RunToProto(r, b.Chain, b.Group)}, nil
}

// Page sizes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("page_size", "%d: want 0 to %d", n, MaxPageSize)
	case n == 0:
		return DefaultPageSize, nil
	}
	return min(int(n), MaxPageSize), nil
}

func pageToken(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, invalid("page_token", "%q: not a token of this list", s)
	}
	return id, nil
}

// ListRuns pages runs, newest first.
func (s *Server) ListRuns(ctx context.Context, req *reconcilev1.ListRunsRequest) (*reconcilev1.ListRunsResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	n, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	before, err := pageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	if d := req.GetBusinessDate(); d != "" {
		if _, err := time.Parse(job.DateLayout, d); err != nil {
			return nil, invalid("business_date", "%q: want YYYY-MM-DD", d)
		}
	}
	runs, err := b.Store.ListRuns(ctx, store.RunFilter{Job: req.GetJob(), Subject: req.GetBusinessDate(), Before: before, Limit: n + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &reconcilev1.ListRunsResponse{}
	if len(runs) > n {
		runs = runs[:n]
		out.NextPageToken = strconv.FormatInt(runs[n-1].ID, 10)
	}
	for _, r := range runs {
		out.Runs = append(out.Runs, RunToProto(r, b.Chain, b.Group))
	}
	return out, nil
}

func (s *Server) resultFilter(req interface {
	GetOutcome() reconcilev1.Outcome
}, key []string) (store.ResultFilter, error) {
	f := store.ResultFilter{Key: strings.Join(key, store.KeySep)}
	if o := req.GetOutcome(); o != reconcilev1.Outcome_OUTCOME_UNSPECIFIED {
		f.Outcome = OutcomeName(o)
		if f.Outcome == "" {
			return f, invalid("outcome", "%d: unknown", o)
		}
	}
	return f, nil
}

// fieldOrder returns the compared fields of the run's job, in order, for diffs.
func fieldOrder(r *store.Run) []string {
	j, err := run.ParseJob(r.Spec)
	if err != nil {
		return nil
	}
	out := make([]string, len(j.Fields))
	for i, f := range j.Fields {
		out[i] = f.Business
	}
	return out
}

// ListResults pages a run's results.
func (s *Server) ListResults(ctx context.Context, req *reconcilev1.ListResultsRequest) (*reconcilev1.ListResultsResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	id, err := runID("run_id", req.GetRunId())
	if err != nil {
		return nil, err
	}
	n, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := pageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	f, err := s.resultFilter(req, req.GetKey())
	if err != nil {
		return nil, err
	}
	r, err := b.Store.GetRun(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	if !r.Ended() { // results are listed once the run has ended (store.Run.Ended)
		return &reconcilev1.ListResultsResponse{}, nil
	}
	f.After, f.Limit = after, n+1
	res, err := b.Store.Results(ctx, id, f)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &reconcilev1.ListResultsResponse{}
	if len(res) > n {
		res = res[:n]
		out.NextPageToken = strconv.FormatInt(res[n-1].ID, 10)
	}
	order := fieldOrder(r)
	for _, x := range res {
		out.Results = append(out.Results, ResultToProto(x, order))
	}
	return out, nil
}

// downloadChunk is the size a chunk of DownloadResult grows to before it is sent.
const downloadChunk = 64 << 10

// DownloadResult streams a run's results as CSV (with a header line) or JSON lines.
func (s *Server) DownloadResult(req *reconcilev1.DownloadResultRequest, stream grpc.ServerStreamingServer[reconcilev1.DownloadResultResponse]) error {
	ctx := stream.Context()
	b, err := s.be()
	if err != nil {
		return err
	}
	id, err := runID("run_id", req.GetRunId())
	if err != nil {
		return err
	}
	format := req.GetFormat()
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		return invalid("format", "%q: want csv or json", format)
	}
	f, err := s.resultFilter(req, nil)
	if err != nil {
		return err
	}
	r, err := b.Store.GetRun(ctx, id)
	if err != nil {
		return toStatus(err)
	}
	order := fieldOrder(r)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if format == "csv" {
		_ = cw.Write([]string{"outcome", "key", "line", "transaction_hash", "log_index", "block_number", "diffs", "error", "business_amount", "chain_amount"})
	}
	flush := func(force bool) error {
		cw.Flush()
		if buf.Len() == 0 || (!force && buf.Len() < downloadChunk) {
			return nil
		}
		if err := stream.Send(&reconcilev1.DownloadResultResponse{Data: buf.String()}); err != nil {
			return err
		}
		buf.Reset()
		return nil
	}
	if !r.Ended() {
		return flush(true)
	}
	f.Limit = MaxPageSize
	for {
		res, err := b.Store.Results(ctx, id, f)
		if err != nil {
			return toStatus(err)
		}
		for _, x := range res {
			p := ResultToProto(x, order)
			if format == "json" {
				line, err := json.Marshal(resultJSON(p))
				if err != nil {
					return toStatus(err)
				}
				buf.Write(line)
				buf.WriteByte('\n')
			} else {
				diffs, _ := json.Marshal(p.Diffs)
				if len(p.Diffs) == 0 {
					diffs = nil
				}
				_ = cw.Write([]string{strings.TrimPrefix(strings.ToLower(p.Outcome.String()), "outcome_"), strings.Join(p.Key, " "),
					uintText(uint64(p.Line)), p.TransactionHash, strconv.FormatUint(uint64(p.LogIndex), 10), uintText(p.BlockNumber),
					string(diffs), p.Error, p.BusinessAmount, p.ChainAmount})
			}
			if err := flush(false); err != nil {
				return err
			}
		}
		if len(res) < f.Limit {
			return flush(true)
		}
		f.After = res[len(res)-1].ID
	}
}

func uintText(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

// resultJSON is a result as a JSON lines download writes it.
func resultJSON(p *reconcilev1.Result) map[string]any {
	m := map[string]any{"outcome": strings.TrimPrefix(strings.ToLower(p.Outcome.String()), "outcome_")}
	if len(p.Key) > 0 {
		m["key"] = p.Key
	}
	if p.Line > 0 {
		m["line"] = p.Line
	}
	if p.TransactionHash != "" {
		m["transaction_hash"], m["log_index"], m["block_number"] = p.TransactionHash, p.LogIndex, strconv.FormatUint(p.BlockNumber, 10)
	}
	if len(p.Diffs) > 0 {
		d := make([]map[string]string, len(p.Diffs))
		for i, x := range p.Diffs {
			d[i] = map[string]string{"field": x.Field, "business": x.Business, "chain": x.Chain}
		}
		m["diffs"] = d
	}
	if p.Error != "" {
		m["error"] = p.Error
	}
	if p.BusinessAmount != "" {
		m["business_amount"] = p.BusinessAmount
	}
	if p.ChainAmount != "" {
		m["chain_amount"] = p.ChainAmount
	}
	return m
}

// Status reports the consumer's progress.
func (s *Server) Status(ctx context.Context, _ *reconcilev1.StatusRequest) (*reconcilev1.StatusResponse, error) {
	b, err := s.be()
	if err != nil {
		return nil, err
	}
	p, err := b.Store.Progress(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &reconcilev1.StatusResponse{GroupId: b.GroupID, HasHeight: p.Has}
	if p.Has {
		out.ConsumedHeight = uint64(p.BlockNumber)
		out.ConsumedTime = timestamppb.New(time.UnixMilli(p.BlockTimestampMs))
	}
	if b.Lag != nil {
		if lag, ok := b.Lag(); ok {
			out.LagMessages = lag
		}
	}
	if b.Halts != nil {
		for _, h := range b.Halts() {
			hp := &reconcilev1.HaltedPartition{Topic: h.Topic, Partition: int32(h.Partition), Offset: h.Offset, Time: timestamppb.New(h.Time)}
			if h.Err != nil {
				hp.Error = h.Err.Error()
			}
			out.HaltedPartitions = append(out.HaltedPartitions, hp)
		}
	}
	if err := s.lastErr(); err != nil {
		out.LastError = err.Error()
	}
	return out, nil
}
