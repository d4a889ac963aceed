package job

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid job")

// cronParser takes standard 5-field expressions, 6 fields with seconds first (Data-Reconcile's
// Spring style, "0 0 1 * * ?"), and @daily-style descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// SourceSchemes are the schemes a source may have; ResultSchemes those a result destination may.
var (
	SourceSchemes = []string{"file", "sftp", "ftp", "s3", "http", "https"}
	ResultSchemes = []string{"file", "sftp", "ftp", "s3"}
)

// Validate checks the job, fills defaults and prepares its comparators. Every problem is
// reported, each naming the job and the field.
func (j *Job) Validate() error {
	v := &validator{j: j}
	j.check(v)
	return errors.Join(v.errs...)
}

type validator struct {
	j    *Job
	errs []error
}

func (v *validator) fail(field, format string, args ...any) {
	where := ""
	if v.j.File != "" {
		where = fmt.Sprintf("%s:%d: ", v.j.File, v.j.Line)
	}
	v.errs = append(v.errs, fmt.Errorf("%w: %sjob %q: %s: %s", ErrInvalid, where, v.j.Name, field, fmt.Sprintf(format, args...)))
}

func (j *Job) check(v *validator) {
	if !reName.MatchString(j.Name) {
		v.fail("name", "%q: want letters, digits, _ and - (at most 63, starting with a letter or digit)", j.Name)
	}
	checkURI(v, "source", j.Source, SourceSchemes, true)
	if j.Results != "" {
		checkURI(v, "results", j.Results, ResultSchemes, false)
	}
	if j.Webhook != "" {
		checkURI(v, "webhook", j.Webhook, []string{"http", "https"}, false)
	}
	if j.Pattern == "" {
		v.fail("pattern", "missing: the file name with a date placeholder, e.g. transfers-{yyyyMMdd}.csv")
	} else if _, err := expand(j.Pattern, time.Date(2025, 12, 5, 0, 0, 0, 0, time.UTC)); err != nil {
		v.fail("pattern", "%v", err)
	}
	j.checkFormat(v)
	j.checkChain(v)
	j.checkWindow(v) // before the mappings: time fields default to the window's zone
	j.checkMappings(v)
	if j.Errors.MaxRows != nil && j.Errors.MaxShare != nil {
		v.fail("errors", "max_rows or max_share, not both")
	}
	if j.Errors.MaxRows != nil && *j.Errors.MaxRows < 0 {
		v.fail("errors.max_rows", "%d: want ≥ 0", *j.Errors.MaxRows)
	}
	if s := j.Errors.MaxShare; s != nil && (*s < 0 || *s > 1) {
		v.fail("errors.max_share", "%g: want a fraction from 0 to 1", *s)
	}
	if j.Schedule != "" {
		if _, err := j.CronSchedule(); err != nil {
			v.fail("schedule", "%q: %v", j.Schedule, err)
		}
	}
	if j.DaysBack == nil {
		d := DefaultDaysBack
		j.DaysBack = &d
	} else if *j.DaysBack < 0 || *j.DaysBack > 366 {
		v.fail("days_back", "%d: want 0 to 366", *j.DaysBack)
	}
	if j.Timeout < 0 {
		v.fail("timeout", "%s: want ≥ 0", j.Timeout)
	} else if j.Timeout == 0 {
		j.Timeout = DefaultTimeout
	}
	if j.Retries.Max == nil {
		n := DefaultRetries
		j.Retries.Max = &n
	} else if *j.Retries.Max < 0 {
		v.fail("retries.max", "%d: want ≥ 0", *j.Retries.Max)
	}
	if j.Retries.Backoff < 0 {
		v.fail("retries.backoff", "%s: want ≥ 0", j.Retries.Backoff)
	} else if j.Retries.Backoff == 0 {
		j.Retries.Backoff = DefaultBackoff
	}
	o := j.SourceOptions
	if o.KnownHosts != "" && o.HostKey != "" {
		v.fail("source_options", "known_hosts or host_key, not both")
	}
	if o.HostKey != "" && !strings.HasPrefix(o.HostKey, "SHA256:") {
		v.fail("source_options.host_key", "%q: want a SHA256 fingerprint as ssh-keygen -l prints it (SHA256:…)", o.HostKey)
	}
}

func checkURI(v *validator, field, raw string, schemes []string, required bool) {
	if raw == "" {
		if required {
			v.fail(field, "missing: a URI with scheme %s", strings.Join(schemes, ", "))
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.fail(field, "%v", err)
		return
	}
	if !slices.Contains(schemes, u.Scheme) {
		v.fail(field, "%q: scheme %q, want one of %s", raw, u.Scheme, strings.Join(schemes, ", "))
		return
	}
	if u.Scheme != "file" && u.Host == "" {
		v.fail(field, "%q: no host (or bucket)", raw)
	}
	if u.Scheme == "file" && (u.Host != "" && u.Host != "localhost" || !path.IsAbs(u.Path)) {
		v.fail(field, "%q: want file:///absolute/dir", raw)
	}
	if _, ok := u.User.Password(); ok {
		v.fail(field, "%q: a password in the URI would be stored and shown; use source_options.password_env", redact(u))
	}
}

func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// formats by file extension
var extFormats = map[string]string{
	".csv": FormatCSV, ".txt": FormatTXT, ".json": FormatJSON, ".jsonl": FormatJSONL,
	".ndjson": FormatJSONL, ".xlsx": FormatXLSX,
}

func (j *Job) checkFormat(v *validator) {
	if j.Format == "" {
		j.Format = extFormats[strings.ToLower(path.Ext(j.Pattern))]
		if j.Format == "" {
			v.fail("format", "missing, and the pattern's extension does not say: want csv, txt, json, jsonl or xlsx")
			return
		}
	}
	o := &j.Options
	j.Format = strings.ToLower(j.Format)
	switch j.Format {
	case FormatCSV, FormatTXT:
		if o.Sheet != "" || o.HeaderRow != 0 {
			v.fail("options", "sheet and header_row apply to xlsx only")
		}
		if j.Format == FormatCSV && o.Delimiter == "" {
			o.Delimiter = DefaultCSVDelim
		}
		if j.Format == FormatTXT && o.Delimiter == "" {
			o.Delimiter = DefaultTXTDelim
		}
		if j.Format == FormatCSV && (len([]rune(o.Delimiter)) != 1 || strings.ContainsAny(o.Delimiter, "\"\r\n")) {
			v.fail("options.delimiter", "%q: csv wants one character other than a quote or line break", o.Delimiter)
		}
		if strings.ContainsAny(o.Delimiter, "\r\n") {
			v.fail("options.delimiter", "%q: a line break cannot be a delimiter", o.Delimiter)
		}
		if o.Header == nil {
			t := true
			o.Header = &t
		}
		if *o.Header && len(o.Columns) > 0 {
			v.fail("options.columns", "given with a header line: say header: false, or leave columns out")
		}
		if !*o.Header && len(o.Columns) == 0 {
			v.fail("options.columns", "missing: a file without a header line needs the column names")
		}
	case FormatJSON, FormatJSONL:
		if o.Delimiter != "" || o.Header != nil || len(o.Columns) > 0 || o.Sheet != "" || o.HeaderRow != 0 {
			v.fail("options", "%s takes encoding only", j.Format)
		}
	case FormatXLSX:
		if o.Delimiter != "" || o.Header != nil || len(o.Columns) > 0 {
			v.fail("options", "xlsx takes sheet and header_row (delimiter, header and columns are for csv and txt)")
		}
		if o.Encoding != "" && !strings.EqualFold(o.Encoding, EncodingUTF8) {
			v.fail("options.encoding", "%q: xlsx text is always Unicode", o.Encoding)
		}
		if o.HeaderRow < 0 {
			v.fail("options.header_row", "%d: want ≥ 1", o.HeaderRow)
		} else if o.HeaderRow == 0 {
			o.HeaderRow = DefaultHeaderRow
		}
	default:
		v.fail("format", "%q: want csv, txt, json, jsonl or xlsx", j.Format)
	}
	switch enc := strings.ToLower(strings.ReplaceAll(o.Encoding, "_", "-")); enc {
	case "", "utf8", EncodingUTF8:
		o.Encoding = EncodingUTF8
	case EncodingGBK, EncodingGB18030:
		o.Encoding = enc
	default:
		v.fail("options.encoding", "%q: want utf-8, gbk or gb18030", o.Encoding)
	}
}

func (j *Job) checkChain(v *validator) {
	c := j.Chain
	if c.Contract == "" {
		v.fail("chain.contract", "missing: the contract name export decodes with")
	}
	if (c.Event == "") == (c.Method == "") {
		v.fail("chain", "want exactly one of event and method")
	}
	for field, values := range c.Filters {
		if field == "" || len(values) == 0 {
			v.fail("chain.filters", "%q: want a field and at least one value", field)
		}
	}
}

func (j *Job) checkMappings(v *validator) {
	if len(j.Key) == 0 {
		v.fail("key", "missing: at least one {business: column, chain: field}")
	}
	j.keyCmp = make([]compare.Comparator, len(j.Key))
	business := make(map[string]string)
	for i, m := range j.Key {
		field := fmt.Sprintf("key[%d]", i)
		if m.Business == "" || m.Chain == "" {
			v.fail(field, "want both business and chain")
			continue
		}
		field = fmt.Sprintf("key[%d] (%s)", i, m.Business)
		if prev, dup := business[m.Business]; dup {
			v.fail(field, "business column %q already used in %s", m.Business, prev)
		}
		business[m.Business] = field
		c, err := compare.New(m.Spec())
		if err != nil {
			v.fail(field, "%v", err)
			continue
		}
		if !c.Joinable() {
			v.fail(field, "compare %s is not plain equality and cannot be a key", m.Compare)
			continue
		}
		j.keyCmp[i] = c
	}
	j.fieldCmp = make([]compare.Comparator, len(j.Fields))
	amountSeen := false
	for i := range j.Fields {
		if j.Fields[i].Compare == compare.Time && j.Fields[i].Zone == "" {
			j.Fields[i].Zone = j.Window.Zone
		}
		f := j.Fields[i]
		field := fmt.Sprintf("fields[%d]", i)
		if f.Business == "" || f.Chain == "" {
			v.fail(field, "want both business and chain")
			continue
		}
		field = fmt.Sprintf("fields[%d] (%s)", i, f.Business)
		if prev, dup := business[f.Business]; dup {
			v.fail(field, "business column %q already used in %s", f.Business, prev)
		}
		business[f.Business] = field
		if f.Business == j.Amount {
			amountSeen = true
			if kind := f.Spec().Kind; kind != compare.Numeric {
				if kind == "" {
					kind = compare.Exact
				}
				v.fail("amount", "%q is compared %s; the amount must be compared numeric", j.Amount, kind)
			}
		}
		c, err := compare.New(f.Spec())
		if err != nil {
			v.fail(field, "%v", err)
			continue
		}
		if f.Sensitive && f.Business == j.Amount {
			v.fail(field, "sensitive, but it is the amount, which totals add up")
			continue
		}
		if f.Sensitive && !c.Joinable() {
			v.fail(field, "sensitive, but compare %s is not plain equality: a sensitive field is compared through a keyed hash, which tells only equal from unequal", c.Spec().Kind)
			continue
		}
		j.fieldCmp[i] = c
	}
	if j.Amount != "" && !amountSeen {
		if slices.ContainsFunc(j.Key, func(m Mapping) bool { return m.Business == j.Amount }) {
			v.fail("amount", "%q is a key column; the amount must be one of fields, compared numeric", j.Amount)
		} else {
			v.fail("amount", "%q is not one of fields", j.Amount)
		}
	}
	switch j.Match {
	case "":
		j.Match = MatchOneToOne
	case MatchOneToOne:
	case MatchManyToOne, MatchOneToMany:
		if j.Amount == "" {
			v.fail("match", "%s adds amounts up: say which field is the amount", j.Match)
		}
	default:
		v.fail("match", "%q: want %s, %s or %s", j.Match, MatchOneToOne, MatchManyToOne, MatchOneToMany)
	}
}

func (j *Job) checkWindow(v *validator) {
	if j.Window.Zone == "" {
		j.Window.Zone = DefaultWindowZone
	}
	loc, err := time.LoadLocation(j.Window.Zone)
	if err != nil {
		v.fail("window.zone", "%q: %v", j.Window.Zone, err)
	}
	j.loc = loc
	if j.Window.Grace < 0 || j.Window.Grace > 24*time.Hour {
		v.fail("window.grace", "%s: want 0 to 24h", j.Window.Grace)
	}
	if j.Window.Wait < 0 {
		v.fail("window.wait", "%s: want ≥ 0", j.Window.Wait)
	} else if j.Window.Wait == 0 {
		j.Window.Wait = DefaultChainWait
	}
}

// CronSchedule parses Schedule; without a CRON_TZ= prefix it runs in the window's zone.
func (j *Job) CronSchedule() (cron.Schedule, error) {
	spec := strings.TrimSpace(j.Schedule)
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
		zone := j.Window.Zone
		if zone == "" {
			zone = DefaultWindowZone
		}
		spec = "CRON_TZ=" + zone + " " + spec
	}
	return cronParser.Parse(spec)
}

// Sensitive reports whether the job marks any key column or field sensitive.
func (j *Job) Sensitive() bool {
	return slices.ContainsFunc(j.Key, func(m Mapping) bool { return m.Sensitive }) ||
		slices.ContainsFunc(j.Fields, func(f Field) bool { return f.Sensitive })
}

// KeyComparators returns the comparators of Key, in order; valid after Validate.
func (j *Job) KeyComparators() []compare.Comparator { return j.keyCmp }

// FieldComparators returns the comparators of Fields, in order; valid after Validate.
func (j *Job) FieldComparators() []compare.Comparator { return j.fieldCmp }

// Columns returns the business columns the job reads: key columns, then fields.
func (j *Job) Columns() []string {
	out := make([]string, 0, len(j.Key)+len(j.Fields))
	for _, m := range j.Key {
		out = append(out, m.Business)
	}
	for _, f := range j.Fields {
		out = append(out, f.Business)
	}
	return out
}
