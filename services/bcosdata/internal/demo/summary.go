package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	exportv1 "github.com/bcosdata/bcosdata/proto/bcosdata/export/v1"
	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	stashv1 "github.com/bcosdata/bcosdata/proto/bcosdata/stash/v1"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/reconcile"
)

// Summary is what the demo reports once every service has caught up with the chain.
type Summary struct {
	Chain string `json:"chain"`
	// Blocks is the chain's head; StashPublished and ExportBlocks how far stash published and
	// export stored (all three equal once synced).
	Blocks         uint64 `json:"blocks"`
	StashPublished uint64 `json:"stash_published"`
	ExportBlocks   uint64 `json:"export_blocks"`
	// Transactions export stored; Events and Calls it decoded and published.
	Transactions int64  `json:"transactions"`
	Events       uint64 `json:"events"`
	Calls        uint64 `json:"calls"`
	// ReconcileEvents and ReconcileCalls are the decoded records reconcile consumed (equal
	// to Events and Calls).
	ReconcileEvents int64 `json:"reconcile_events"`
	ReconcileCalls  int64 `json:"reconcile_calls"`
	// SampleTransaction is one transaction's hash, for the commands to try.
	SampleTransaction string          `json:"sample_transaction"`
	Reconciliation    *Reconciliation `json:"reconciliation,omitempty"`
	Evidence          *Evidence       `json:"evidence,omitempty"`
	// Inconsistencies lists counts that disagree across services (empty when all agree).
	Inconsistencies []string `json:"inconsistencies,omitempty"`
}

// Reconciliation is the sample reconciliation: a business file generated from reconcile's
// records of Asset's Transfer events with planted differences, and the run that reconciled it.
type Reconciliation struct {
	Job   string `json:"job"`
	File  string `json:"file"`
	RunID string `json:"run_id"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Records is how many chain records the file was made from.
	Records int `json:"records"`
	// Outcomes counts the run's results by outcome; Expected what the planted differences
	// must give.
	Outcomes map[string]int `json:"outcomes"`
	Expected map[string]int `json:"expected"`
}

// Evidence is the demo's signed records: how many it published and how many are anchored,
// where their batch root is on chain, and the first record's proof with the command that
// verifies it against the node.
type Evidence struct {
	// Skipped says why this run publishes nothing: the chain kept from an earlier run is at
	// or past -blocks already, and no block is left to anchor in.
	Skipped   string   `json:"skipped,omitempty"`
	Published int      `json:"published"`
	Anchored  int      `json:"anchored"`
	Records   []string `json:"records,omitempty"`
	// AnchorBlock and AnchorTransaction are where the first record's batch root is stored.
	AnchorBlock       uint64 `json:"anchor_block,omitempty"`
	AnchorTransaction string `json:"anchor_transaction,omitempty"`
	// Proof is the first record's proof file; Verify the command that checks it on chain.
	Proof  string `json:"proof,omitempty"`
	Verify string `json:"verify,omitempty"`
	Error  string `json:"error,omitempty"`
}

// samplePlan is the differences planted in the sample business file: a changed amount, an
// amount within the tolerance, rows missing on each side, a duplicated key and a malformed row.
var samplePlan = reconcile.SamplePlan{Changed: 2, WithinTolerance: 1, MissingInFile: 1, Extra: 1, Duplicate: 1, Malformed: 1, Seed: 15}

// sampleJob is the name of the demo's reconciliation job.
const sampleJob = "demo-transfers"

// clients are the services' gRPC clients, over the demo's one server.
type clients struct {
	stash     stashv1.StashServiceClient
	export    exportv1.ExportServiceClient
	reconcile reconcilev1.ReconcileServiceClient
}

func newClients(conn *grpc.ClientConn) clients {
	return clients{stashv1.NewStashServiceClient(conn), exportv1.NewExportServiceClient(conn), reconcilev1.NewReconcileServiceClient(conn)}
}

// progress is one look at every service.
type progress struct {
	head                uint64
	stash               *stashv1.StatusResponse
	export              *exportv1.StatusResponse
	reconcile           *reconcilev1.StatusResponse
	recEvents, recCalls int64
}

// look asks every service how far it got and prints it as one line.
func look(ctx context.Context, cl clients, pool *pgxpool.Pool, sim *fiscosim.Sim, say func(string, ...any)) (*progress, error) {
	p := &progress{head: sim.HeadNumber()}
	var err error
	line := fmt.Sprintf("  chain head %d", p.head)
	if p.stash, err = cl.stash.Status(ctx, &stashv1.StatusRequest{}); err != nil {
		say("%s | stash status: %v", line, err)
		return nil, err
	}
	line += fmt.Sprintf(" | stash verified %d, published %d", p.stash.GetLastVerified(), p.stash.GetLastPublished())
	if f := p.stash.GetFailure(); f != nil {
		line += fmt.Sprintf(" | STOPPED at block %d: %s: %s", f.GetBlockNumber(), f.GetCheck(), f.GetMessage())
	}
	if p.export, err = cl.export.Status(ctx, &exportv1.StatusRequest{}); err != nil {
		say("%s | export status: %v", line, err)
		return nil, err
	}
	if p.export.GetHasHeight() {
		line += fmt.Sprintf(" | export exported %d, events %d, calls %d", p.export.GetLastBlock(), p.export.GetEvents(), p.export.GetCalls())
	}
	for _, h := range p.export.GetHaltedPartitions() {
		line += fmt.Sprintf(" | export HALTED %s/%d at block %d: %s", h.GetTopic(), h.GetPartition(), h.GetBlockNumber(), h.GetError())
	}
	if p.reconcile, err = cl.reconcile.Status(ctx, &reconcilev1.StatusRequest{}); err != nil {
		say("%s | reconcile status: %v", line, err)
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'event'), count(*) FILTER (WHERE kind = 'call') FROM reconcile.records`).Scan(&p.recEvents, &p.recCalls); err != nil {
		say("%s | reconcile records: %v", line, err)
		return nil, err
	}
	line += fmt.Sprintf(" | reconcile records %d events, %d calls, lag %d", p.recEvents, p.recCalls, p.reconcile.GetLagMessages())
	for _, h := range p.reconcile.GetHaltedPartitions() {
		line += fmt.Sprintf(" | reconcile HALTED %s/%d: %s", h.GetTopic(), h.GetPartition(), h.GetError())
	}
	say("%s", line)
	return p, nil
}

// syncedTo reports whether stash, export and reconcile all got to block target and have
// nothing left in flight.
func (p *progress) syncedTo(target uint64) bool {
	return p.head >= target && p.stash.GetLastPublished() >= target &&
		p.export.GetHasHeight() && p.export.GetLastBlock() >= target && p.export.GetLagBlocks() == 0 && p.export.GetOutboxBacklog() == 0 &&
		p.reconcile.GetLagMessages() == 0 &&
		uint64(p.recEvents) == p.export.GetEvents() && uint64(p.recCalls) == p.export.GetCalls()
}

// summarize gathers the counts of every service once synced and checks they agree.
func summarize(ctx context.Context, chain string, cl clients, p *progress) (*Summary, error) {
	s := &Summary{Chain: chain, Blocks: p.head, StashPublished: p.stash.GetLastPublished(), ExportBlocks: p.export.GetLastBlock(),
		Events: p.export.GetEvents(), Calls: p.export.GetCalls(), ReconcileEvents: p.recEvents, ReconcileCalls: p.recCalls}
	txs, err := cl.export.ListTransactions(ctx, &exportv1.ListTransactionsRequest{PageSize: 1, IncludeTotal: true})
	if err != nil {
		return nil, fmt.Errorf("count export's transactions: %w", err)
	}
	s.Transactions = txs.GetTotalSize()
	if t := txs.GetTransactions(); len(t) > 0 {
		s.SampleTransaction = t[0].GetHash()
	}
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{fmt.Sprintf("stash published %d blocks, the chain has %d", s.StashPublished, s.Blocks), s.StashPublished == s.Blocks},
		{fmt.Sprintf("export stored up to block %d, stash published %d", s.ExportBlocks, s.StashPublished), s.ExportBlocks == s.StashPublished},
		{fmt.Sprintf("reconcile consumed %d events, export published %d", s.ReconcileEvents, s.Events), uint64(s.ReconcileEvents) == s.Events},
		{fmt.Sprintf("reconcile consumed %d calls, export published %d", s.ReconcileCalls, s.Calls), uint64(s.ReconcileCalls) == s.Calls},
		{"export stored no transaction", s.Transactions > 0},
		{"export decoded no event", s.Events > 0},
		{"export decoded no call", s.Calls > 0},
	} {
		if !c.ok {
			s.Inconsistencies = append(s.Inconsistencies, c.what)
		}
	}
	return s, nil
}

// sampleReconciliation registers the demo's job over reconcile's API, for Asset's Transfer
// events up to block height, writes a business file from reconcile's records of them with
// samplePlan's differences, has reconcile reconcile it and waits for the run.
func sampleReconciliation(ctx context.Context, dir string, height uint64, cl clients, svc *reconcile.Service) (*Reconciliation, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	blocks := make([]string, 0, height)
	for b := uint64(1); b <= height; b++ {
		blocks = append(blocks, strconv.FormatUint(b, 10))
	}
	j := &reconcilev1.Job{
		Name: sampleJob, Source: "file://" + dir, Pattern: "transfers-{yyyyMMdd}.csv",
		Chain: &reconcilev1.ChainSelector{Contract: "Asset", Selector: &reconcilev1.ChainSelector_Event{Event: "Transfer"},
			Filters: map[string]*reconcilev1.StringList{"block_number": {Values: blocks}}},
		Key: []*reconcilev1.KeyMapping{
			{Business: "tx_hash", Chain: "tx_hash", Compare: "hex"},
			{Business: "log_index", Chain: "log_index", Compare: "numeric"},
		},
		Fields: []*reconcilev1.FieldMapping{
			{Business: "amount", Chain: "amount", Compare: "numeric", Scale: 2, Tolerance: "0.01"},
			{Business: "payer", Chain: "from", Compare: "address"},
			{Business: "payee", Chain: "to", Compare: "address"},
		},
		Amount: "amount",
		// The demo waits until reconcile holds every transfer up to height before it triggers
		// the run; while the chain moves on the topics are rarely fully consumed, so the run
		// need not wait long for that.
		Window: &reconcilev1.Window{Wait: durationpb.New(5 * time.Second)},
		Errors: &reconcilev1.ErrorBudget{Budget: &reconcilev1.ErrorBudget_MaxRows{MaxRows: int32(samplePlan.Malformed)}},
	}
	if _, err := cl.reconcile.CreateJob(ctx, &reconcilev1.CreateJobRequest{Job: j}); status.Code(err) == codes.AlreadyExists {
		_, err = cl.reconcile.UpdateJob(ctx, &reconcilev1.UpdateJobRequest{Job: j})
		if err != nil {
			return nil, fmt.Errorf("update reconcile job %s: %w", sampleJob, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("create reconcile job %s: %w", sampleJob, err)
	}
	var buf bytes.Buffer
	expected, n, err := svc.SampleBusinessFile(ctx, sampleJob, &buf, samplePlan)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, fmt.Sprintf("sample-transfers-to-block-%d.csv", height))
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write sample business file: %w", err)
	}
	rec := &Reconciliation{Job: sampleJob, File: file, Records: n, Expected: expected, Outcomes: map[string]int{}}
	tr, err := cl.reconcile.TriggerRun(ctx, &reconcilev1.TriggerRunRequest{Job: sampleJob, FileUri: "file://" + file})
	if err != nil {
		return nil, fmt.Errorf("trigger the sample run: %w", err)
	}
	run := tr.GetRun()
	rec.RunID = run.GetRunId()
	for run.GetState() != reconcilev1.RunState_RUN_STATE_SUCCEEDED && run.GetState() != reconcilev1.RunState_RUN_STATE_FAILED {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		got, err := cl.reconcile.GetRun(ctx, &reconcilev1.GetRunRequest{RunId: rec.RunID})
		if err != nil {
			return nil, fmt.Errorf("get sample run %s: %w", rec.RunID, err)
		}
		run = got.GetRun()
	}
	rec.State, rec.Error = outcomeName(run.GetState().String(), "RUN_STATE_"), run.GetError()
	token := ""
	for {
		resp, err := cl.reconcile.ListResults(ctx, &reconcilev1.ListResultsRequest{RunId: rec.RunID, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list results of sample run %s: %w", rec.RunID, err)
		}
		for _, r := range resp.GetResults() {
			rec.Outcomes[outcomeName(r.GetOutcome().String(), "OUTCOME_")]++
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	return rec, nil
}

// outcomeName turns an enum name (OUTCOME_MISSING_ON_CHAIN) into the summary's name
// (missing_on_chain).
func outcomeName(enum, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(enum, prefix))
}

// transfersSynced reports whether reconcile holds every Transfer event of Asset export
// decoded up to block height: the sample's file is made from reconcile's records.
func transfersSynced(ctx context.Context, cl clients, pool *pgxpool.Pool, height uint64) (bool, int64, error) {
	resp, err := cl.export.ListEvents(ctx, &exportv1.ListEventsRequest{Contract: "Asset", Event: "Transfer", ToBlock: &height, PageSize: 1, IncludeTotal: true})
	if err != nil {
		return false, 0, fmt.Errorf("count export's Transfer events: %w", err)
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM reconcile.records WHERE kind = 'event' AND contract_name = 'Asset' AND name = 'Transfer' AND block_number <= $1`,
		int64(height)).Scan(&n); err != nil {
		return false, 0, fmt.Errorf("count reconcile's Transfer records: %w", err)
	}
	return n == resp.GetTotalSize(), n, nil
}

// check returns an error naming what disagrees: counts across services, or the sample
// reconciliation's outcomes and the planted differences.
func (s *Summary) check() error {
	var errs []error
	for _, i := range s.Inconsistencies {
		errs = append(errs, errors.New(i))
	}
	if r := s.Reconciliation; r == nil {
		errs = append(errs, errors.New("no sample reconciliation"))
	} else if r.State != "succeeded" {
		errs = append(errs, fmt.Errorf("sample reconciliation run %s %s: %s", r.RunID, r.State, r.Error))
	} else if !equalCounts(r.Outcomes, r.Expected) {
		errs = append(errs, fmt.Errorf("sample reconciliation run %s reported %v, the planted differences give %v", r.RunID, r.Outcomes, r.Expected))
	}
	switch e := s.Evidence; {
	case e == nil:
		errs = append(errs, errors.New("no evidence"))
	case e.Skipped != "":
	case e.Published == 0 || e.Anchored != e.Published || e.Error != "":
		err := fmt.Errorf("evidence: %d records published, %d anchored", e.Published, e.Anchored)
		if e.Error != "" {
			err = fmt.Errorf("%w: %s", err, e.Error)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// print writes the summary as text, or as one JSON object.
func (s *Summary) print(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "summary   chain %s: %d blocks; stash published %d; export stored %d blocks, %d transactions, decoded %d events and %d calls; reconcile consumed %d events and %d calls\n",
		s.Chain, s.Blocks, s.StashPublished, s.ExportBlocks, s.Transactions, s.Events, s.Calls, s.ReconcileEvents, s.ReconcileCalls)
	if r := s.Reconciliation; r != nil {
		fmt.Fprintf(w, "          reconciliation run %s (%s) of %s, %d chain records: %s; planted: %s\n", r.RunID, r.State, r.File, r.Records, counts(r.Outcomes), counts(r.Expected))
	}
	if e := s.Evidence; e != nil {
		switch {
		case e.Skipped != "":
			fmt.Fprintf(w, "          evidence skipped: %s\n", e.Skipped)
		case e.Proof != "":
			fmt.Fprintf(w, "          evidence %d records published, %d anchored in block %d (transaction %s); proof of %s in %s\n",
				e.Published, e.Anchored, e.AnchorBlock, e.AnchorTransaction, e.Records[0], e.Proof)
		default:
			fmt.Fprintf(w, "          evidence %d records published, %d anchored\n", e.Published, e.Anchored)
		}
		if e.Error != "" {
			fmt.Fprintf(w, "          EVIDENCE: %s\n", e.Error)
		}
	}
	for _, i := range s.Inconsistencies {
		fmt.Fprintf(w, "          INCONSISTENT: %s\n", i)
	}
	return nil
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
