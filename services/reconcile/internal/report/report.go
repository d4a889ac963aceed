// Package report writes a finished run's result files to the job's results destination: every
// result as CSV and as JSON, and a one-page HTML report a person reads (the run, totals per
// side and per outcome, the differences, at most MaxListed of them).
//
// Files are named <job>-<subject>-v<version>.{csv,json,html}, where subject is the business
// date, or run<id> for a run given a file only. Each is written to a temporary local file
// first, so its size is known (S3) and a failed transfer can simply be tried again.
package report

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/source"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// MaxListed is how many differences (results other than matched) the HTML report lists by
// default.
const MaxListed = 1000

// page is how many results one read of the store returns.
const page = 10_000

// Name returns the base name (without extension) of a run's result files.
func Name(r *store.Run) string {
	return fmt.Sprintf("%s-%s-v%d", r.Job, r.Label(), r.Version)
}

// Write writes the run's result files to dest (a directory URI) through client and returns
// their URIs (CSV, JSON, HTML). The HTML report lists at most maxListed differences (0:
// MaxListed).
func Write(ctx context.Context, st *store.Store, client *source.Client, dest string, j *job.Job, r *store.Run, maxListed int) ([]string, error) {
	if maxListed <= 0 {
		maxListed = MaxListed
	}
	base := strings.TrimRight(dest, "/") + "/" + Name(r)
	fields := make([]string, len(j.Fields))
	for i, f := range j.Fields {
		fields[i] = f.Business
	}
	writers := []struct {
		ext   string
		write func(w io.Writer) error
	}{
		{"csv", func(w io.Writer) error { return writeCSV(ctx, st, r, fields, w) }},
		{"json", func(w io.Writer) error { return writeJSON(ctx, st, r, fields, w) }},
		{"html", func(w io.Writer) error { return writeHTML(ctx, st, j, r, fields, maxListed, w) }},
	}
	var uris []string
	for _, wr := range writers {
		uri := base + "." + wr.ext
		if err := put(ctx, client, uri, wr.write); err != nil {
			return uris, fmt.Errorf("result file %s of run %d: %w", wr.ext, r.ID, err)
		}
		uris = append(uris, uri)
	}
	return uris, nil
}

// put writes the file locally, then puts it at uri.
func put(ctx context.Context, client *source.Client, uri string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp("", "reconcile-result-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return client.Put(ctx, uri, tmp, size)
}

// each calls fn for every result of the run with the outcome ("" for all) in report order,
// stopping after limit (0: no limit).
func each(ctx context.Context, st *store.Store, run int64, outcome string, limit int, fn func(store.Result) error) error {
	f := store.ResultFilter{Outcome: outcome, Limit: page}
	n := 0
	for {
		if limit > 0 {
			f.Limit = min(page, limit-n)
		}
		res, err := st.Results(ctx, run, f)
		if err != nil {
			return err
		}
		for _, x := range res {
			if err := fn(x); err != nil {
				return err
			}
		}
		n += len(res)
		if len(res) < f.Limit || (limit > 0 && n >= limit) {
			return nil
		}
		f.After = res[len(res)-1].ID
	}
}

// Diff is one differing field of a mismatched result.
type Diff struct {
	Field    string `json:"field"`
	Business string `json:"business"`
	Chain    string `json:"chain"`
}

// diffs returns the result's differing fields in the job's field order.
func diffs(x store.Result, fields []string) []Diff {
	var out []Diff
	for _, f := range fields {
		if d, ok := x.Diff[f]; ok {
			out = append(out, Diff{Field: f, Business: d["business"], Chain: d["chain"]})
		}
	}
	return out
}

// CSVHeader is the header line of the CSV result file, the same columns DownloadResult gives.
var CSVHeader = []string{"outcome", "key", "line", "transaction_hash", "log_index", "block_number", "diffs", "error", "business_amount", "chain_amount"}

func writeCSV(ctx context.Context, st *store.Store, r *store.Run, fields []string, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	err := each(ctx, st, r.ID, "", 0, func(x store.Result) error {
		var d []byte
		if ds := diffs(x, fields); len(ds) > 0 {
			d, _ = json.Marshal(ds)
		}
		return cw.Write([]string{x.Outcome, strings.Join(x.Key, " "), optInt(x.Line), opt(x.TxHash), optInt(x.LogIndex), optInt(x.BlockNumber),
			string(d), opt(x.Error), opt(x.BusinessAmount), opt(x.ChainAmount)})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// Summary is a run as the JSON result file and the webhook give it.
type Summary struct {
	Run          int64           `json:"run"`
	Job          string          `json:"job"`
	Subject      string          `json:"subject"`
	BusinessDate string          `json:"business_date,omitempty"`
	FileURI      string          `json:"file_uri"`
	Version      int             `json:"version"`
	State        string          `json:"state"`
	Current      bool            `json:"current"`
	Attempt      int             `json:"attempt"`
	Error        string          `json:"error,omitempty"`
	Totals       store.RunTotals `json:"totals"`
	Started      string          `json:"started,omitempty"`
	Finished     string          `json:"finished,omitempty"`
	// Files are the result files written for the run, if any.
	Files []string `json:"files,omitempty"`
}

// SummaryOf returns the run's summary.
func SummaryOf(r *store.Run) Summary {
	s := Summary{Run: r.ID, Job: r.Job, Subject: r.Subject, BusinessDate: r.BusinessDate, FileURI: r.FileURI, Version: r.Version,
		State: r.State, Current: r.Current, Attempt: r.Attempt, Error: r.Error, Totals: r.Totals}
	if r.Started != nil {
		s.Started = r.Started.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if r.Finished != nil {
		s.Finished = r.Finished.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return s
}

// jsonResult is one result in the JSON result file.
type jsonResult struct {
	Outcome        string   `json:"outcome"`
	Key            []string `json:"key,omitempty"`
	Line           *int32   `json:"line,omitempty"`
	TxHash         *string  `json:"transaction_hash,omitempty"`
	LogIndex       *int32   `json:"log_index,omitempty"`
	BlockNumber    *int64   `json:"block_number,omitempty"`
	Diffs          []Diff   `json:"diffs,omitempty"`
	Error          *string  `json:"error,omitempty"`
	BusinessAmount *string  `json:"business_amount,omitempty"`
	ChainAmount    *string  `json:"chain_amount,omitempty"`
}

// writeJSON writes {"run": summary, "results": [...]}, one result a line.
func writeJSON(ctx context.Context, st *store.Store, r *store.Run, fields []string, w io.Writer) error {
	head, err := json.Marshal(SummaryOf(r))
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "{\"run\": %s,\n\"results\": [", head); err != nil {
		return err
	}
	sep := "\n"
	err = each(ctx, st, r.ID, "", 0, func(x store.Result) error {
		b, err := json.Marshal(jsonResult{Outcome: x.Outcome, Key: x.Key, Line: x.Line, TxHash: x.TxHash, LogIndex: x.LogIndex,
			BlockNumber: x.BlockNumber, Diffs: diffs(x, fields), Error: x.Error, BusinessAmount: x.BusinessAmount, ChainAmount: x.ChainAmount})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		sep = ",\n"
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n]}\n")
	return err
}

func opt(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func optInt[T int32 | int64](n *T) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(int64(*n), 10)
}
