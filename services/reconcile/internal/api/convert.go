package api

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// JobFromProto turns an API job into a job (not validated yet).
func JobFromProto(p *reconcilev1.Job) *job.Job {
	j := &job.Job{Name: p.GetName(), Source: p.GetSource(), Pattern: p.GetPattern(), Format: p.GetFormat(), Amount: p.GetAmount(),
		Match: p.GetMatch(), Schedule: p.GetSchedule(), Results: p.GetResults(), Webhook: p.GetWebhook(), Timeout: dur(p.GetTimeout())}
	if o := p.GetSourceOptions(); o != nil {
		j.SourceOptions = job.SourceOptions{Endpoint: o.GetEndpoint(), Region: o.GetRegion(), PathStyle: o.GetPathStyle(), Insecure: o.GetInsecure(),
			AccessKeyEnv: o.GetAccessKeyEnv(), SecretKeyEnv: o.GetSecretKeyEnv(), PasswordEnv: o.GetPasswordEnv(), KeyFile: o.GetKeyFile(),
			KnownHosts: o.GetKnownHosts(), HostKey: o.GetHostKey(), TLS: o.GetTls()}
	}
	if o := p.GetOptions(); o != nil {
		j.Options = job.FormatOptions{Delimiter: o.GetDelimiter(), Columns: o.GetColumns(), Sheet: o.GetSheet(), HeaderRow: int(o.GetHeaderRow()), Encoding: o.GetEncoding()}
		if o.Header != nil {
			h := o.GetHeader()
			j.Options.Header = &h
		}
	}
	if c := p.GetChain(); c != nil {
		j.Chain = job.Chain{Contract: c.GetContract(), Event: c.GetEvent(), Method: c.GetMethod()}
		if len(c.GetFilters()) > 0 {
			j.Chain.Filters = make(map[string]job.StringList)
			for k, v := range c.GetFilters() {
				j.Chain.Filters[k] = job.StringList(v.GetValues())
			}
		}
	}
	for _, k := range p.GetKey() {
		j.Key = append(j.Key, job.Mapping{Business: k.GetBusiness(), Chain: k.GetChain(), Compare: compare.Kind(k.GetCompare()), Scale: k.GetScale(), Map: k.GetMap(), Sensitive: k.GetSensitive()})
	}
	for _, f := range p.GetFields() {
		j.Fields = append(j.Fields, job.Field{Business: f.GetBusiness(), Chain: f.GetChain(), Compare: compare.Kind(f.GetCompare()), Scale: f.GetScale(),
			Tolerance: f.GetTolerance(), Relative: f.GetRelative(), Format: f.GetFormat(), Zone: f.GetZone(), Unit: f.GetUnit(), Map: f.GetMap(), Sensitive: f.GetSensitive()})
	}
	if w := p.GetWindow(); w != nil {
		j.Window = job.Window{Zone: w.GetZone(), Grace: dur(w.GetGrace()), Wait: dur(w.GetWait())}
	}
	if e := p.GetErrors(); e != nil {
		switch b := e.GetBudget().(type) {
		case *reconcilev1.ErrorBudget_MaxRows:
			n := int(b.MaxRows)
			j.Errors.MaxRows = &n
		case *reconcilev1.ErrorBudget_MaxShare:
			s := b.MaxShare
			j.Errors.MaxShare = &s
		}
	}
	if p.DaysBack != nil {
		d := int(p.GetDaysBack())
		j.DaysBack = &d
	}
	if r := p.GetRetries(); r != nil {
		j.Retries.Backoff = dur(r.GetBackoff())
		if r.Max != nil {
			m := int(r.GetMax())
			j.Retries.Max = &m
		}
	}
	return j
}

func dur(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func durProto(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// JobToProto turns a job into its API form.
func JobToProto(j *job.Job, origin string) *reconcilev1.Job {
	p := &reconcilev1.Job{Name: j.Name, Source: j.Source, Pattern: j.Pattern, Format: j.Format, Amount: j.Amount, Match: j.Match,
		Schedule: j.Schedule, Results: j.Results, Webhook: j.Webhook, Timeout: durProto(j.Timeout), Origin: origin,
		SourceOptions: &reconcilev1.SourceOptions{Endpoint: j.SourceOptions.Endpoint, Region: j.SourceOptions.Region, PathStyle: j.SourceOptions.PathStyle,
			Insecure: j.SourceOptions.Insecure, AccessKeyEnv: j.SourceOptions.AccessKeyEnv, SecretKeyEnv: j.SourceOptions.SecretKeyEnv,
			PasswordEnv: j.SourceOptions.PasswordEnv, KeyFile: j.SourceOptions.KeyFile, KnownHosts: j.SourceOptions.KnownHosts,
			HostKey: j.SourceOptions.HostKey, Tls: j.SourceOptions.TLS},
		Options: &reconcilev1.FormatOptions{Delimiter: j.Options.Delimiter, Header: j.Options.Header, Columns: j.Options.Columns,
			Sheet: j.Options.Sheet, HeaderRow: int32(j.Options.HeaderRow), Encoding: j.Options.Encoding},
		Chain:  &reconcilev1.ChainSelector{Contract: j.Chain.Contract},
		Window: &reconcilev1.Window{Zone: j.Window.Zone, Grace: durProto(j.Window.Grace), Wait: durProto(j.Window.Wait)},
	}
	if j.Chain.Method != "" {
		p.Chain.Selector = &reconcilev1.ChainSelector_Method{Method: j.Chain.Method}
	} else {
		p.Chain.Selector = &reconcilev1.ChainSelector_Event{Event: j.Chain.Event}
	}
	if len(j.Chain.Filters) > 0 {
		p.Chain.Filters = make(map[string]*reconcilev1.StringList)
		for k, v := range j.Chain.Filters {
			p.Chain.Filters[k] = &reconcilev1.StringList{Values: v}
		}
	}
	for _, k := range j.Key {
		p.Key = append(p.Key, &reconcilev1.KeyMapping{Business: k.Business, Chain: k.Chain, Compare: string(k.Compare), Scale: k.Scale, Map: k.Map, Sensitive: k.Sensitive})
	}
	for _, f := range j.Fields {
		p.Fields = append(p.Fields, &reconcilev1.FieldMapping{Business: f.Business, Chain: f.Chain, Compare: string(f.Compare), Scale: f.Scale,
			Tolerance: f.Tolerance, Relative: f.Relative, Format: f.Format, Zone: f.Zone, Unit: f.Unit, Map: f.Map, Sensitive: f.Sensitive})
	}
	switch {
	case j.Errors.MaxRows != nil:
		p.Errors = &reconcilev1.ErrorBudget{Budget: &reconcilev1.ErrorBudget_MaxRows{MaxRows: int32(*j.Errors.MaxRows)}}
	case j.Errors.MaxShare != nil:
		p.Errors = &reconcilev1.ErrorBudget{Budget: &reconcilev1.ErrorBudget_MaxShare{MaxShare: *j.Errors.MaxShare}}
	}
	if j.DaysBack != nil {
		d := int32(*j.DaysBack)
		p.DaysBack = &d
	}
	p.Retries = &reconcilev1.RetryPolicy{Backoff: durProto(j.Retries.Backoff)}
	if j.Retries.Max != nil {
		m := int32(*j.Retries.Max)
		p.Retries.Max = &m
	}
	return p
}

var outcomes = map[string]reconcilev1.Outcome{
	store.Matched:             reconcilev1.Outcome_OUTCOME_MATCHED,
	store.Mismatched:          reconcilev1.Outcome_OUTCOME_MISMATCHED,
	store.MissingOnChain:      reconcilev1.Outcome_OUTCOME_MISSING_ON_CHAIN,
	store.MissingInBusiness:   reconcilev1.Outcome_OUTCOME_MISSING_IN_BUSINESS,
	store.DuplicateInBusiness: reconcilev1.Outcome_OUTCOME_DUPLICATE_IN_BUSINESS,
	store.DuplicateOnChain:    reconcilev1.Outcome_OUTCOME_DUPLICATE_ON_CHAIN,
	store.Malformed:           reconcilev1.Outcome_OUTCOME_MALFORMED,
}

// OutcomeName returns the stored name of an outcome; "" for unspecified or unknown.
func OutcomeName(o reconcilev1.Outcome) string {
	for k, v := range outcomes {
		if v == o {
			return k
		}
	}
	return ""
}

var states = map[string]reconcilev1.RunState{
	store.StatePending:   reconcilev1.RunState_RUN_STATE_PENDING,
	store.StateRunning:   reconcilev1.RunState_RUN_STATE_RUNNING,
	store.StateSucceeded: reconcilev1.RunState_RUN_STATE_SUCCEEDED,
	store.StateFailed:    reconcilev1.RunState_RUN_STATE_FAILED,
}

func totalsProto(t store.Totals) *reconcilev1.Totals {
	return &reconcilev1.Totals{BusinessRows: uint64(t.BusinessRows), ChainRecords: uint64(t.ChainRecords),
		BusinessAmount: orZero(t.BusinessAmount), ChainAmount: orZero(t.ChainAmount)}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

// RunToProto turns a stored run into its API form (also the results topic's message).
func RunToProto(r *store.Run, chain string, group uint) *reconcilev1.Run {
	p := &reconcilev1.Run{RunId: strconv.FormatInt(r.ID, 10), Job: r.Job, BusinessDate: r.BusinessDate, FileUri: r.FileURI,
		Version: uint32(r.Version), Current: r.Current, State: states[r.State], Attempt: uint32(r.Attempt), Error: r.Error,
		Business: totalsProto(r.Totals.Business), Chain: totalsProto(r.Totals.Chain), Created: timestamppb.New(r.Created),
		Started: ts(r.Started), Finished: ts(r.Finished), ChainName: chain, Group: uint32(group)}
	for _, o := range store.Outcomes {
		if t, ok := r.Totals.ByOutcome[o]; ok {
			p.Outcomes = append(p.Outcomes, &reconcilev1.OutcomeTotals{Outcome: outcomes[o], Totals: totalsProto(t)})
		}
	}
	return p
}

// ResultToProto turns a stored result into its API form.
func ResultToProto(r store.Result, fieldOrder []string) *reconcilev1.Result {
	p := &reconcilev1.Result{Outcome: outcomes[r.Outcome], Key: r.Key}
	if r.Line != nil {
		p.Line = uint32(*r.Line)
	}
	if r.TxHash != nil {
		p.TransactionHash = *r.TxHash
	}
	if r.LogIndex != nil {
		p.LogIndex = uint32(*r.LogIndex)
	}
	if r.BlockNumber != nil {
		p.BlockNumber = uint64(*r.BlockNumber)
	}
	if r.Error != nil {
		p.Error = *r.Error
	}
	if r.BusinessAmount != nil {
		p.BusinessAmount = *r.BusinessAmount
	}
	if r.ChainAmount != nil {
		p.ChainAmount = *r.ChainAmount
	}
	seen := make(map[string]bool)
	for _, f := range fieldOrder {
		if d, ok := r.Diff[f]; ok {
			seen[f] = true
			p.Diffs = append(p.Diffs, &reconcilev1.FieldDiff{Field: f, Business: d["business"], Chain: d["chain"]})
		}
	}
	for f, d := range r.Diff {
		if !seen[f] {
			p.Diffs = append(p.Diffs, &reconcilev1.FieldDiff{Field: f, Business: d["business"], Chain: d["chain"]})
		}
	}
	return p
}
