package store

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Run states.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
)

// Outcomes, in report order.
const (
	Matched             = "matched"
	Mismatched          = "mismatched"
	MissingOnChain      = "missing_on_chain"
	MissingInBusiness   = "missing_in_business"
	DuplicateInBusiness = "duplicate_in_business"
	DuplicateOnChain    = "duplicate_on_chain"
	Malformed           = "malformed"
)

// Outcomes lists every outcome in report order.
var Outcomes = []string{Matched, Mismatched, MissingOnChain, MissingInBusiness, DuplicateInBusiness, DuplicateOnChain, Malformed}

// Totals counts rows and sums amounts (exact decimal text in chain units, "0" when none).
type Totals struct {
	BusinessRows   int64  `json:"business_rows"`
	ChainRecords   int64  `json:"chain_records"`
	BusinessAmount string `json:"business_amount"`
	ChainAmount    string `json:"chain_amount"`
}

// RunTotals are a run's totals: per outcome, and per side.
type RunTotals struct {
	ByOutcome map[string]Totals `json:"by_outcome"`
	Business  Totals            `json:"business"`
	Chain     Totals            `json:"chain"`
}

// Run is one reconciliation of a job's business file.
type Run struct {
	ID           int64
	Job          string
	Subject      string
	BusinessDate string // YYYY-MM-DD; empty for a run given a file only
	FileURI      string
	Version      int
	State        string
	Current      bool
	Attempt      int
	Spec         string // the job as it was when the run was triggered
	Totals       RunTotals
	Error        string
	Created      time.Time
	Started      *time.Time
	Finished     *time.Time
	NextAttempt  *time.Time
}

const runColumns = `id, job, subject, coalesce(to_char(business_date, 'YYYY-MM-DD'), ''), file_uri, version, state, current, attempt, spec,
	totals, error, created_at, started_at, finished_at, next_attempt`

func scanRun(row pgx.Row) (*Run, error) {
	r := &Run{}
	err := row.Scan(&r.ID, &r.Job, &r.Subject, &r.BusinessDate, &r.FileURI, &r.Version, &r.State, &r.Current, &r.Attempt, &r.Spec,
		&r.Totals, &r.Error, &r.Created, &r.Started, &r.Finished, &r.NextAttempt)
	return r, err
}

// CreateRun adds a pending run of job for subject, the next version of the subject.
func (s *Store) CreateRun(ctx context.Context, jobName, subject, date, fileURI, spec string) (*Run, error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Versions of one subject are numbered one after the other: serialize their creation.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, jobName+"\x1f"+subject); err != nil {
		return nil, fmt.Errorf("lock %s %s: %w", jobName, subject, err)
	}
	var d *string
	if date != "" {
		d = &date
	}
	r, err := scanRun(tx.QueryRow(ctx, `INSERT INTO reconcile.runs (job, subject, business_date, file_uri, version, state, spec)
		SELECT $1, $2, $3::date, $4, coalesce(max(version), 0) + 1, 'pending', $5 FROM reconcile.runs WHERE job = $1 AND subject = $2
		RETURNING `+runColumns, jobName, subject, d, fileURI, spec))
	if err != nil {
		return nil, fmt.Errorf("create run of %s %s: %w", jobName, subject, err)
	}
	return r, tx.Commit(ctx)
}

// GetRun returns a run.
func (s *Store) GetRun(ctx context.Context, id int64) (*Run, error) {
	r, err := scanRun(s.Pool.QueryRow(ctx, `SELECT `+runColumns+` FROM reconcile.runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %d: %w", id, err)
	}
	return r, nil
}

// RunFilter selects runs for ListRuns.
type RunFilter struct {
	Job     string
	Subject string
	// Before pages: runs with a smaller id (0: from the newest).
	Before int64
	Limit  int
}

// ListRuns returns runs, newest first.
func (s *Store) ListRuns(ctx context.Context, f RunFilter) ([]*Run, error) {
	q := `SELECT ` + runColumns + ` FROM reconcile.runs WHERE ($1 = '' OR job = $1) AND ($2 = '' OR subject = $2) AND ($3 = 0 OR id < $3) ORDER BY id DESC LIMIT $4`
	rows, err := s.Pool.Query(ctx, q, f.Job, f.Subject, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// runLockClass is the first key of the advisory lock held on each run being executed
// (pg_try_advisory_lock(runLockClass, id & 2³¹-1)): "rcnr".
const runLockClass = 0x72636e72

// runLockKey is the second key of a run's lock, in SQL, of the run id id (an SQL bigint).
func runLockKey(id string) string { return "(" + id + " & 2147483647)::int4" }

// A Claim is the lock of a run this process executes: a session-level advisory lock, on a
// connection of its own, held until Release, or until the process dies and its session with
// it. ResumeRunning takes up only running runs whose lock is free: it never takes a run from
// a live attempt of another instance.
type Claim struct{ conn *pgxpool.Conn }

// Release gives up the lock and its connection.
func (c *Claim) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		// The session, and the lock with it, must not outlive the claim.
		_ = c.conn.Hijack().Close(ctx)
		return
	}
	c.conn.Release()
}

// ResumeRunning turns runs left running by attempts that are gone (their process stopped or
// died: their lock is free) back into pending ones, due now; it returns how many. Runs of
// live attempts, in this process or another, are left alone.
func (s *Store) ResumeRunning(ctx context.Context) (int64, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE reconcile.runs SET state = 'pending', next_attempt = NULL
		WHERE id IN (SELECT id FROM reconcile.runs WHERE state = 'running' FOR UPDATE SKIP LOCKED)
		AND pg_try_advisory_xact_lock($1, `+runLockKey("id")+`)`, runLockClass)
	if err != nil {
		return 0, fmt.Errorf("resume runs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ClaimRun takes the oldest pending run due at now, locks it (Claim) and marks it running;
// nil when none.
func (s *Store) ClaimRun(ctx context.Context, now time.Time) (*Run, *Claim, error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("claim run: %w", err)
	}
	claim := &Claim{conn: conn}
	r, err := claimRun(ctx, conn, now)
	if err != nil || r == nil {
		claim.Release()
		return nil, nil, err
	}
	return r, claim, nil
}

func claimRun(ctx context.Context, conn *pgxpool.Conn, now time.Time) (*Run, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim run: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var id int64
	err = tx.QueryRow(ctx, `SELECT id FROM reconcile.runs WHERE state = 'pending' AND (next_attempt IS NULL OR next_attempt <= $1)
		ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, now).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim run: %w", err)
	}
	// Locked before the run shows as running, in the same transaction: ResumeRunning never
	// sees it running and unlocked.
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, `+runLockKey("$2::bigint")+`)`, runLockClass, id).Scan(&locked); err != nil {
		return nil, fmt.Errorf("claim run %d: %w", id, err)
	}
	if !locked {
		return nil, fmt.Errorf("claim run %d: an attempt of it still holds its lock", id)
	}
	r, err := scanRun(tx.QueryRow(ctx, `UPDATE reconcile.runs SET state = 'running', attempt = attempt + 1, started_at = $2, error = ''
		WHERE id = $1 RETURNING `+runColumns, id, now))
	if err != nil {
		return nil, fmt.Errorf("claim run %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("claim run %d: %w", id, err)
	}
	return r, nil
}

// NextDue returns when the earliest pending run is due; ok false when none is pending.
func (s *Store) NextDue(ctx context.Context) (t time.Time, ok bool, err error) {
	var at *time.Time
	err = s.Pool.QueryRow(ctx, `SELECT min(coalesce(next_attempt, '-infinity')) FROM reconcile.runs WHERE state = 'pending'`).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next run: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// FailRun ends an attempt of a run with err: pending again at retryAt, or failed (its tables
// dropped) when retryAt is nil. A run failed for good queues out (its results message, when
// not nil) in the same transaction.
func (s *Store) FailRun(ctx context.Context, id int64, msg string, now time.Time, retryAt *time.Time, out *Message) error {
	state := StateFailed
	var finished *time.Time
	if retryAt != nil {
		state = StatePending
		out = nil
	} else {
		finished = &now
	}
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("fail run %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if retryAt == nil {
		if err := DropRunTables(ctx, tx, id); err != nil {
			return err
		}
	}
	// A failed attempt lists no results. Results are written in the transaction that ends a
	// run, so there are none but what an earlier version (which committed a matching's parts
	// on their own) left.
	if _, err := tx.Exec(ctx, `DELETE FROM reconcile.results WHERE run_id = $1`, id); err != nil {
		return fmt.Errorf("fail run %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE reconcile.runs SET state = $2, error = $3, next_attempt = $4, finished_at = $5 WHERE id = $1`,
		id, state, msg, retryAt, finished); err != nil {
		return fmt.Errorf("fail run %d: %w", id, err)
	}
	if out != nil {
		if err := Enqueue(ctx, tx, *out); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("fail run %d: %w", id, err)
	}
	return nil
}

// BusinessRow is one row of a business file as a run stores it.
type BusinessRow struct {
	Line   int
	Keys   []string // canonical
	Fields []*string
	Raw    []string
	Amount *string // canonical decimal text
	Error  string  // malformed: the reason, with file, line and column
}

// ChainRow is one chain record of a run's window, projected onto the job's fields.
type ChainRow struct {
	TxHash      string
	LogIndex    int32
	BlockNumber int64
	Keys        []string
	Fields      []*string
	Raw         []string
	Amount      *string
}

// KeySep joins the canonical key texts of a composite key.
const KeySep = "\x1f"

// ClearRun removes what an earlier attempt of the run stored: its results and its tables.
func ClearRun(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM reconcile.results WHERE run_id = $1`, id); err != nil {
		return fmt.Errorf("clear results of run %d: %w", id, err)
	}
	return DropRunTables(ctx, tx, id)
}

// CopyBusinessRows creates the run's business table and streams rows into it with COPY; next
// returns false at the end (or on an error it keeps for its caller).
func CopyBusinessRows(ctx context.Context, tx pgx.Tx, id int64, next func() (*BusinessRow, bool)) (int64, error) {
	if err := createBusinessTable(ctx, tx, id); err != nil {
		return 0, err
	}
	src := pgx.CopyFromFunc(func() ([]any, error) {
		r, ok := next()
		if !ok {
			return nil, nil
		}
		key := strings.Join(r.Keys, KeySep)
		keys := r.Keys
		if keys == nil {
			keys = []string{}
		}
		fields, raw := r.Fields, r.Raw
		if fields == nil {
			fields = []*string{}
		}
		if raw == nil {
			raw = []string{}
		}
		var errText *string
		if r.Error != "" {
			errText = &r.Error
		}
		return []any{int32(r.Line), key, keys, fields, raw, numeric(r.Amount), errText}, nil
	})
	n, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, businessTable(id)},
		[]string{"line", "key", "keys", "fields", "raw", "amount", "error"}, src)
	if err != nil {
		return n, fmt.Errorf("copy business rows of run %d: %w", id, err)
	}
	return n, analyze(ctx, tx, BusinessTable(id))
}

// CopyChainRows creates the run's chain table, fills it with rows with COPY and analyzes it,
// as CopyBusinessRows does the business table.
func CopyChainRows(ctx context.Context, tx pgx.Tx, id int64, rows []ChainRow) error {
	if err := createChainTable(ctx, tx, id); err != nil {
		return err
	}
	src := make([][]any, len(rows))
	for i, r := range rows {
		src[i] = []any{r.TxHash, r.LogIndex, r.BlockNumber, strings.Join(r.Keys, KeySep), r.Keys, r.Fields, r.Raw, numeric(r.Amount)}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, chainTable(id)},
		[]string{"transaction_hash", "log_index", "block_number", "key", "keys", "fields", "raw", "amount"}, pgx.CopyFromRows(src))
	if err != nil {
		return fmt.Errorf("copy chain rows of run %d: %w", id, err)
	}
	return analyze(ctx, tx, ChainTable(id))
}

// Field is a compared field for Match: its business column name and the SQL expression of
// its comparator over the business and chain canonical texts.
type Field struct {
	Name string
	// SQL returns the comparator's expression; Match passes the array elements.
	SQL func(business, chain string) string
}

// Match writes the results of a run with a grouping strategy (Grouping) from its business
// rows and chain rows, in report order: the amounts of a key's group are compared.
// One-to-one runs are matched by the runner, in memory.
func Match(ctx context.Context, tx pgx.Tx, id int64, fields []Field, g Grouping) error {
	// The matching hashes every row of the run: give it memory for that rather than the
	// default 4MB's batches on disk; JIT compiling its expressions took seconds, longer than
	// running them.
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'; SET LOCAL jit = off`); err != nil {
		return fmt.Errorf("match run %d: %w", id, err)
	}
	var q string
	switch g.Group {
	case GroupChain:
		q = oneToManySQL(id, fields[g.Amount])
	case GroupBusiness:
		q = manyToOneSQL(id, fields[g.Amount])
	default:
		return fmt.Errorf("match run %d: no grouping strategy %q", id, g.Group)
	}
	if _, err := tx.Exec(ctx, q, id, g.Amount+1); err != nil {
		return fmt.Errorf("match run %d: %w", id, err)
	}
	return nil
}

// resultColumns are the columns of reconcile.results after run_id and id.
const resultColumns = `outcome, key, line, transaction_hash, log_index, block_number, diff, error,
	business_row, chain_records, business_amount, chain_amount`

// analyze gathers the statistics of a run's table just filled: without them the planner takes
// its rows for a handful and joins them in nested loops, quadratic in the rows. A small sample
// is enough to see how many rows and keys there are.
func analyze(ctx context.Context, tx pgx.Tx, table string) error {
	if _, err := tx.Exec(ctx, `SET LOCAL default_statistics_target = 10; ANALYZE `+table); err != nil {
		return fmt.Errorf("analyze %s: %w", table, err)
	}
	return nil
}

// numeric turns a canonical decimal text into a value COPY writes to a numeric column; a text
// that is not a number is NULL.
func numeric(s *string) any {
	if s == nil {
		return nil
	}
	if n, ok := smallDecimal(*s); ok {
		return n
	}
	var n pgtype.Numeric
	if err := n.Scan(*s); err != nil {
		return nil
	}
	return n
}

// smallDecimal reads a plain decimal of at most 18 digits (-?digits[.digits]), most amounts,
// without the text parsing of pgtype.Numeric.Scan (a tenth of the load's processor time).
func smallDecimal(s string) (pgtype.Numeric, bool) {
	var v int64
	digits, exp, point := 0, int32(0), false
	neg := len(s) > 0 && s[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	if i == len(s) {
		return pgtype.Numeric{}, false
	}
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !point && digits > 0 && i < len(s)-1:
			point = true
		case '0' <= c && c <= '9':
			if digits++; digits > 18 {
				return pgtype.Numeric{}, false
			}
			v = v*10 + int64(c-'0')
			if point {
				exp--
			}
		default:
			return pgtype.Numeric{}, false
		}
	}
	if neg {
		v = -v
	}
	return pgtype.Numeric{Int: big.NewInt(v), Exp: exp, Valid: true}, true
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ComputeTotals sums the run's results.
func ComputeTotals(ctx context.Context, tx pgx.Tx, id int64) (RunTotals, error) {
	t := RunTotals{ByOutcome: make(map[string]Totals)}
	for _, o := range Outcomes {
		t.ByOutcome[o] = Totals{BusinessAmount: "0", ChainAmount: "0"}
	}
	rows, err := tx.Query(ctx, `SELECT outcome, count(*) FILTER (WHERE business_row), coalesce(sum(chain_records), 0),
		coalesce(trim_scale(sum(business_amount))::text, '0'), coalesce(trim_scale(sum(chain_amount))::text, '0')
		FROM reconcile.results WHERE run_id = $1 GROUP BY ROLLUP (outcome)`, id)
	if err != nil {
		return t, fmt.Errorf("totals of run %d: %w", id, err)
	}
	var outcome *string
	var v Totals
	_, err = pgx.ForEachRow(rows, []any{&outcome, &v.BusinessRows, &v.ChainRecords, &v.BusinessAmount, &v.ChainAmount}, func() error {
		if outcome == nil {
			t.Business = Totals{BusinessRows: v.BusinessRows, BusinessAmount: v.BusinessAmount, ChainAmount: "0"}
			t.Chain = Totals{ChainRecords: v.ChainRecords, ChainAmount: v.ChainAmount, BusinessAmount: "0"}
			return nil
		}
		t.ByOutcome[*outcome] = v
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("totals of run %d: %w", id, err)
	}
	if t.Business.BusinessAmount == "" {
		t.Business = Totals{BusinessAmount: "0", ChainAmount: "0"}
		t.Chain = Totals{BusinessAmount: "0", ChainAmount: "0"}
	}
	return t, nil
}

// FinishRun ends the run: its state, totals and error, and drops its tables; a succeeded run
// becomes its subject's current version.
func FinishRun(ctx context.Context, tx pgx.Tx, r *Run, state string, totals RunTotals, msg string, now time.Time) error {
	if state == StateSucceeded {
		if _, err := tx.Exec(ctx, `UPDATE reconcile.runs SET current = false WHERE job = $1 AND subject = $2 AND current`, r.Job, r.Subject); err != nil {
			return fmt.Errorf("replace current run of %s %s: %w", r.Job, r.Subject, err)
		}
	}
	if err := DropRunTables(ctx, tx, r.ID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE reconcile.runs SET state = $2, totals = $3, error = $4, finished_at = $5, current = $6, next_attempt = NULL WHERE id = $1`,
		r.ID, state, totals, msg, now, state == StateSucceeded)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	r.State, r.Totals, r.Error, r.Finished, r.Current = state, totals, msg, &now, state == StateSucceeded
	return nil
}

// Result is one result of a run.
type Result struct {
	ID             int64
	Outcome        string
	Key            []string
	Line           *int32
	TxHash         *string
	LogIndex       *int32
	BlockNumber    *int64
	Diff           map[string]map[string]string
	Error          *string
	BusinessAmount *string
	ChainAmount    *string
}

// Ended says whether the run has ended (succeeded or failed). Its results are read once it
// has: they are written in the transaction that ends it.
func (r *Run) Ended() bool { return r.State == StateSucceeded || r.State == StateFailed }

// ResultFilter selects results.
type ResultFilter struct {
	Outcome string
	Key     string // canonical key texts joined with KeySep
	After   int64
	Limit   int
}

// Results pages a run's results in report order.
func (s *Store) Results(ctx context.Context, run int64, f ResultFilter) ([]Result, error) {
	// Only the conditions that apply, so that each page is an index range (by outcome when
	// one is asked for): with "($2 = '' OR outcome = $2)" a cached generic plan read every
	// result of the run for each page of a rare outcome.
	q := `SELECT id, outcome, key, line, transaction_hash, log_index, block_number, diff, error,
		business_amount::text, chain_amount::text
		FROM reconcile.results WHERE run_id = $1 AND id > $2`
	args := []any{run, f.After}
	if f.Outcome != "" {
		args = append(args, f.Outcome)
		q += ` AND outcome = $` + strconv.Itoa(len(args))
		if f.Outcome != Matched {
			// Implies the predicate of results_outcome (migration 005) in every plan of
			// the statement, the generic one included.
			q += ` AND outcome <> '` + Matched + `'`
		}
	}
	if f.Key != "" {
		args = append(args, f.Key)
		q += ` AND array_to_string(key, E'\x1f') = $` + strconv.Itoa(len(args))
	}
	args = append(args, f.Limit)
	q += ` ORDER BY id LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read results of run %d: %w", run, err)
	}
	defer rows.Close()
	var out []Result
	for rows.Next() {
		var r Result
		if err := rows.Scan(&r.ID, &r.Outcome, &r.Key, &r.Line, &r.TxHash, &r.LogIndex, &r.BlockNumber, &r.Diff, &r.Error,
			&r.BusinessAmount, &r.ChainAmount); err != nil {
			return nil, fmt.Errorf("read results of run %d: %w", run, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MalformedResults lists only the run's malformed rows as its results: a run over its error
// budget is not matched.
func MalformedResults(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO reconcile.results (run_id, id, outcome, line, error, business_row, chain_records)
		SELECT $1, row_number() OVER (ORDER BY line), 'malformed', line, error, true, 0
		FROM `+qualified(businessTable(id))+` WHERE error IS NOT NULL`, id)
	if err != nil {
		return fmt.Errorf("list malformed rows of run %d: %w", id, err)
	}
	return nil
}

// CountResults returns how many results of the run each outcome has.
func (s *Store) CountResults(ctx context.Context, run int64) (map[string]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT outcome, count(*) FROM reconcile.results WHERE run_id = $1 GROUP BY outcome`, run)
	if err != nil {
		return nil, fmt.Errorf("count results of run %d: %w", run, err)
	}
	out := make(map[string]int64)
	var o string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&o, &n}, func() error { out[o] = n; return nil }); err != nil {
		return nil, fmt.Errorf("count results of run %d: %w", run, err)
	}
	return out, nil
}
