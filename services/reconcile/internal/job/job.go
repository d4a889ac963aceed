// Package job defines a reconcile job: which business file to fetch for a business date and
// how to read it, which on-chain records it is compared with, which columns are the key and
// which fields are compared how, and when it runs. Jobs come from the -jobs YAML file (Load,
// Parse) or over gRPC; either way Validate decides whether a job is usable, and Resolve turns
// a job and a business date into the file to fetch and the on-chain time window to compare.
//
// A job file:
//
//	jobs:
//	  - name: transfers
//	    source: file:///data/biz          # sftp://user@host/dir, ftp://…, s3://bucket/prefix, https://…
//	    source_options: {endpoint: "127.0.0.1:9000", path_style: true}
//	    pattern: transfers-{yyyyMMdd}.csv # {…} is a Java date pattern of the business date
//	    format: csv                        # txt, json, jsonl, xlsx
//	    options: {delimiter: ",", header: true, encoding: utf-8}
//	    chain: {contract: Asset, event: Transfer, filters: {from: ["0x…"]}}
//	    key:
//	      - {business: tx_hash, chain: tx_hash, compare: hex}
//	    fields:
//	      - {business: amount, chain: amount, compare: numeric, scale: 0, tolerance: "0"}
//	      - {business: payer, chain: from, compare: case-insensitive}
//	      - {business: id_card, chain: holder, sensitive: true} # personal data: encrypted, matched by HMAC
//	    amount: amount
//	    window: {zone: Asia/Shanghai, grace: 10m, wait: 15m}
//	    errors: {max_rows: 10}
//	    schedule: "0 2 * * *"              # in window.zone unless CRON_TZ= says otherwise
//	    days_back: 1                       # a scheduled run reconciles the day before
//	    timeout: 30m
//	    retries: {max: 2, backoff: 1m}
//	    results: sftp://user@host/out      # where result files go (optional)
//	    webhook: https://example.com/hook  # POSTed each finished run's summary (optional)
package job

import (
	"time"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
)

// Formats of business files.
const (
	FormatCSV   = "csv"
	FormatTXT   = "txt" // Data-Reconcile's: "#_#" between fields, a header line
	FormatJSON  = "json"
	FormatJSONL = "jsonl"
	FormatXLSX  = "xlsx"
)

// Encodings of text formats.
const (
	EncodingUTF8    = "utf-8"
	EncodingGBK     = "gbk"
	EncodingGB18030 = "gb18030"
)

// Matching strategies.
const (
	MatchOneToOne  = "one-to-one"  // one business row, one chain record (the default)
	MatchManyToOne = "many-to-one" // several business rows whose amounts add up to one chain record
	MatchOneToMany = "one-to-many" // one business row, several chain records whose amounts add up
)

// Defaults applied by Validate to fields left out.
const (
	DefaultTimeout    = 30 * time.Minute
	DefaultRetries    = 2
	DefaultBackoff    = time.Minute
	DefaultChainWait  = 15 * time.Minute
	DefaultDaysBack   = 1
	DefaultTXTDelim   = "#_#"
	DefaultCSVDelim   = ","
	DefaultHeaderRow  = 1
	DefaultWindowZone = "UTC"
)

// File is the -jobs file.
type File struct {
	Jobs []Job `yaml:"jobs"`
}

// Job is one reconciliation job.
type Job struct {
	// Name identifies the job (letters, digits, _ and -; at most 63): runs, results and
	// the job's on-chain projection are named by it.
	Name string `yaml:"name"`
	// Source is the directory (or bucket prefix, or URL prefix) the business files are in:
	// file://, sftp://, ftp://, s3://, http://, https://.
	Source string `yaml:"source"`
	// SourceOptions configures the connection to Source and Results.
	SourceOptions SourceOptions `yaml:"source_options"`
	// Pattern is the file name under Source, with {…} placeholders that are Java-style date
	// patterns of the business date: transfers-{yyyyMMdd}.csv, {yyyy}/{MM}/t-{yyyy-MM-dd}.txt.
	Pattern string `yaml:"pattern"`
	// Format is csv, txt, json, jsonl or xlsx; by default taken from Pattern's extension.
	Format string `yaml:"format"`
	// Options says how to read the format.
	Options FormatOptions `yaml:"options"`
	// Chain selects the on-chain records.
	Chain Chain `yaml:"chain"`
	// Key maps the business columns that identify a record to chain fields; composite keys
	// have several entries.
	Key []Mapping `yaml:"key"`
	// Fields are compared once keys match.
	Fields []Field `yaml:"fields"`
	// Amount names the business column (one of Fields, compared numeric) summed for totals.
	Amount string `yaml:"amount"`
	// Match is one-to-one (default), many-to-one or one-to-many; the latter two match by
	// key and compare the summed Amount.
	Match string `yaml:"match"`
	// Window is the on-chain time range of a business date.
	Window Window `yaml:"window"`
	// Errors is the budget of malformed business rows a run tolerates.
	Errors Budget `yaml:"errors"`
	// Schedule is a cron expression (5 fields, or 6 with seconds first; descriptors like
	// @daily; CRON_TZ=zone prefix), empty for runs triggered by hand only.
	Schedule string `yaml:"schedule"`
	// DaysBack is how many days before the scheduled time's date the business date is
	// (default 1: a 02:00 run reconciles yesterday). 0 is today.
	DaysBack *int `yaml:"days_back"`
	// Timeout is how long a run may take before it is taken as stuck and retried.
	Timeout time.Duration `yaml:"timeout"`
	// Retries says how often a failed or stuck run is tried again.
	Retries Retries `yaml:"retries"`
	// Results is where result files (CSV and JSON) are written, a directory URI on
	// file://, sftp://, ftp:// or s3://; empty keeps them in the database only.
	Results string `yaml:"results"`
	// Webhook is an http(s) URL the summary of every finished run is POSTed to (JSON), after
	// the run committed; best effort, never failing the run. Empty: none.
	Webhook string `yaml:"webhook"`

	// Line is the line of the job in its file, for messages; 0 when not from a file.
	Line int `yaml:"-"`
	// File is the file the job came from, for messages.
	File string `yaml:"-"`

	keyCmp   []compare.Comparator
	fieldCmp []compare.Comparator
	loc      *time.Location
}

// SourceOptions configures connections. Secrets are never written in the job file: they come
// from the environment variables named here, or from the URI's user info.
type SourceOptions struct {
	// Endpoint is the S3 endpoint host[:port] (default s3.amazonaws.com).
	Endpoint string `yaml:"endpoint"`
	// Region is the S3 region.
	Region string `yaml:"region"`
	// PathStyle forces path-style S3 requests (MinIO and most on-premise stores).
	PathStyle bool `yaml:"path_style"`
	// Insecure uses plain HTTP to the S3 endpoint.
	Insecure bool `yaml:"insecure"`
	// AccessKeyEnv and SecretKeyEnv name the environment variables holding S3 credentials
	// (default AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
	AccessKeyEnv string `yaml:"access_key_env"`
	SecretKeyEnv string `yaml:"secret_key_env"`
	// PasswordEnv names the environment variable holding the SFTP or FTP password.
	PasswordEnv string `yaml:"password_env"`
	// KeyFile is an SSH private key file for SFTP.
	KeyFile string `yaml:"key_file"`
	// KnownHosts is an OpenSSH known_hosts file checked for the SFTP server's key.
	KnownHosts string `yaml:"known_hosts"`
	// HostKey is the SFTP server key's SHA256 fingerprint ("SHA256:…"), instead of KnownHosts.
	HostKey string `yaml:"host_key"`
	// TLS uses explicit FTPS (AUTH TLS) for ftp://.
	TLS bool `yaml:"tls"`
}

// FormatOptions says how to read a business file. Each option applies to some formats only.
type FormatOptions struct {
	// Delimiter between fields: csv (one character, default ","), txt (default "#_#").
	Delimiter string `yaml:"delimiter"`
	// Header says the first line (csv, txt) names the columns; default true. Without one,
	// Columns names them.
	Header *bool `yaml:"header"`
	// Columns names the columns of csv and txt files without a header line.
	Columns []string `yaml:"columns"`
	// Sheet is the xlsx sheet (default the first).
	Sheet string `yaml:"sheet"`
	// HeaderRow is the xlsx row (1-based) naming the columns; data starts below it.
	HeaderRow int `yaml:"header_row"`
	// Encoding is utf-8 (default), gbk or gb18030, for csv, txt, json and jsonl.
	Encoding string `yaml:"encoding"`
}

// Chain selects the on-chain records a job compares with.
type Chain struct {
	// Contract is the contract name export decodes with.
	Contract string `yaml:"contract"`
	// Event or Method (exactly one): a name selects every overload, a canonical signature
	// ("Transfer(address,address,uint256)") one.
	Event  string `yaml:"event"`
	Method string `yaml:"method"`
	// Filters keep only records whose field (address, from, or a decoded parameter) is one
	// of the values: {address: ["0x…"], from: "0x…"}.
	Filters map[string]StringList `yaml:"filters"`
}

// Mapping pairs a business column with a chain field.
type Mapping struct {
	Business string `yaml:"business"`
	Chain    string `yaml:"chain"`
	// Compare is how the key values are made equal; only comparators that are plain
	// equality of canonical texts (not numeric with tolerance, not time) may be keys.
	Compare compare.Kind      `yaml:"compare"`
	Scale   int32             `yaml:"scale"`
	Map     map[string]string `yaml:"map"`
	// Sensitive marks personal data: stored encrypted, matched through a keyed hash.
	Sensitive bool `yaml:"sensitive"`
}

// Field is a compared business column.
type Field struct {
	Business  string       `yaml:"business"`
	Chain     string       `yaml:"chain"`
	Compare   compare.Kind `yaml:"compare"`
	Scale     int32        `yaml:"scale"`
	Tolerance string       `yaml:"tolerance"`
	Relative  string       `yaml:"relative"`
	Format    string       `yaml:"format"`
	Zone      string       `yaml:"zone"` // time: default window.zone

	Unit string            `yaml:"unit"`
	Map  map[string]string `yaml:"map"`
	// Sensitive marks personal data: stored encrypted, compared through a keyed hash; the
	// compare must be plain equality, and the field cannot be the amount.
	Sensitive bool `yaml:"sensitive"`
}

// Spec returns the comparator configuration of the field.
func (f Field) Spec() compare.Spec {
	return compare.Spec{Kind: f.Compare, Scale: f.Scale, Tolerance: f.Tolerance, Relative: f.Relative,
		Format: f.Format, Zone: f.Zone, Unit: f.Unit, Map: f.Map}
}

// Spec returns the comparator configuration of the key column.
func (m Mapping) Spec() compare.Spec {
	return compare.Spec{Kind: m.Compare, Scale: m.Scale, Map: m.Map}
}

// Window turns a business date into a block-time range.
type Window struct {
	// Zone is the IANA zone of business dates (default UTC).
	Zone string `yaml:"zone"`
	// Grace extends the window past the next midnight for records that land late.
	Grace time.Duration `yaml:"grace"`
	// Wait bounds how long a run waits for the chain side to pass the window's end before
	// it decides a record is missing on chain.
	Wait time.Duration `yaml:"wait"`
}

// Budget is how many malformed business rows a run tolerates before it fails: at most MaxRows
// rows, or at most MaxShare (0 to 1) of all rows read, malformed ones included. At most one of
// the two is set; neither means none is tolerated.
type Budget struct {
	MaxRows  *int     `yaml:"max_rows"`
	MaxShare *float64 `yaml:"max_share"`
}

// Allows reports whether bad malformed rows out of total rows are within the budget.
func (b Budget) Allows(bad, total int) bool {
	switch {
	case b.MaxRows != nil:
		return bad <= *b.MaxRows
	case b.MaxShare != nil:
		return bad == 0 || float64(bad) <= *b.MaxShare*float64(total)
	}
	return bad == 0
}

// Retries is the retry policy of failed or stuck runs.
type Retries struct {
	// Max is the number of retries after the first attempt.
	Max *int `yaml:"max"`
	// Backoff is the wait before a retry; it doubles each time.
	Backoff time.Duration `yaml:"backoff"`
}

// StringList is a YAML scalar or sequence of scalars.
type StringList []string
