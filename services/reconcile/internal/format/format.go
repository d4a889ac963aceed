// Package format reads business files as streams of records and writes them: CSV, Data-Reconcile's
// TXT ("#_#" between fields, a header line), JSON arrays, JSON lines and Excel .xlsx, in UTF-8,
// GBK or GB18030.
//
// A Reader yields one record at a time, so a file of any size is read in constant memory
// (except .xlsx, which is a zip archive and is read from a seekable copy). A malformed row (a
// wrong number of fields, a bad quote, bytes that are not valid in the encoding, a JSON value
// that is not a flat object) comes back as a *RowError naming the file, line and column, and
// the stream goes on: the caller's error budget decides whether the run continues. Only what
// makes the rest of the file unreadable (no header, a JSON array broken mid-way, an xlsx that
// is not a workbook) ends the stream, as an error marked permanent with libs/fault.
package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/bcosdata/bcosdata/libs/fault"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// Options says how a file is laid out. The zero value reads UTF-8 CSV with a header line.
type Options struct {
	// Format is job.FormatCSV, FormatTXT, FormatJSON, FormatJSONL or FormatXLSX.
	Format string
	// Delimiter between fields: csv one character (default ","), txt any string (default "#_#").
	Delimiter string
	// NoHeader says csv and txt files have no header line; Columns names the columns then.
	NoHeader bool
	Columns  []string
	// Sheet is the xlsx sheet (default the first); HeaderRow its header row (default 1).
	Sheet     string
	HeaderRow int
	// Encoding is job.EncodingUTF8 (default), EncodingGBK or EncodingGB18030.
	Encoding string
}

// OptionsOf returns the options of a validated job.
func OptionsOf(j *job.Job) Options {
	o := j.Options
	return Options{
		Format: j.Format, Delimiter: o.Delimiter, NoHeader: o.Header != nil && !*o.Header, Columns: o.Columns,
		Sheet: o.Sheet, HeaderRow: o.HeaderRow, Encoding: o.Encoding,
	}
}

// Record is one row of a business file.
type Record struct {
	// Line is where the record starts: the 1-based line of a text file, the row of a sheet.
	Line int
	// Names are the column names, Values the values in the same order. Text formats and xlsx
	// share one Names slice (the header) across records; JSON has each object's own keys. A
	// JSON null is left out.
	Names  []string
	Values []string
}

// Get returns the value of the named column.
func (r Record) Get(name string) (string, bool) {
	for i, n := range r.Names {
		if n == name && i < len(r.Values) {
			return r.Values[i], true
		}
	}
	return "", false
}

// ErrorAt returns a row error for the named column of r, for problems found after reading (a
// value a comparator cannot read).
func (r Record) ErrorAt(file, name, reason string) *RowError {
	e := &RowError{File: file, Line: r.Line, Field: name, Reason: reason}
	for i, n := range r.Names {
		if n == name {
			e.Column = i + 1
			break
		}
	}
	return e
}

// RowError is a malformed row; the stream goes on after it.
type RowError struct {
	File string
	Line int
	// Column is 1-based: the field number for a wrong value or count, the byte position on the
	// line for syntax (a stray quote, broken JSON); 0 when the whole row is at fault.
	Column int
	// Field is the column's name where known.
	Field  string
	Reason string
}

func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	if e.Column > 0 {
		fmt.Fprintf(&b, ":%d", e.Column)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (%s)", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Reader reads records.
type Reader interface {
	// Header returns the column names; nil for JSON, whose objects name their own.
	Header() []string
	// Next returns the next record; a *RowError for a malformed row, after which Next may be
	// called again; io.EOF at the end; any other error ends the stream.
	Next() (Record, error)
	// Close releases what the reader holds (not the underlying reader).
	Close() error
}

// ErrFormat is wrapped by errors that end a stream because the file cannot be read on.
var ErrFormat = errors.New("unreadable business file")

func fatalf(file string, line, col int, format string, args ...any) error {
	where := file
	if line > 0 {
		where = fmt.Sprintf("%s:%d", file, line)
		if col > 0 {
			where += fmt.Sprintf(":%d", col)
		}
	}
	return fault.MarkPermanent(fmt.Errorf("%w: %s: %s", ErrFormat, where, fmt.Sprintf(format, args...)))
}

// NewReader reads r, the contents of the file named file, laid out as o says.
func NewReader(r io.Reader, file string, o Options) (Reader, error) {
	if o.Format == "" {
		o.Format = job.FormatCSV
	}
	if o.Format == job.FormatXLSX {
		return newXLSXReader(r, file, o)
	}
	dec, err := decoder(r, o.Encoding)
	if err != nil {
		return nil, fatalf(file, 0, 0, "%v", err)
	}
	switch o.Format {
	case job.FormatCSV:
		return newCSVReader(dec, file, o)
	case job.FormatTXT:
		return newTXTReader(dec, file, o)
	case job.FormatJSON:
		return newJSONReader(dec, file, o)
	case job.FormatJSONL:
		return newJSONLReader(dec, file, o)
	}
	return nil, fatalf(file, 0, 0, "format %q: want csv, txt, json, jsonl or xlsx", o.Format)
}

// textEncoding returns the x/text encoding of name; nil is UTF-8.
func textEncoding(name string) (encoding.Encoding, error) {
	switch strings.ToLower(name) {
	case "", "utf8", job.EncodingUTF8:
		return nil, nil
	case job.EncodingGBK:
		return simplifiedchinese.GBK, nil
	case job.EncodingGB18030:
		return simplifiedchinese.GB18030, nil
	}
	return nil, fmt.Errorf("encoding %q: want utf-8, gbk or gb18030", name)
}

// decoder returns r as UTF-8 without a byte order mark. Bytes that are not valid in a GBK
// file become U+FFFD, which checkEncoding then reports; invalid UTF-8 is left as it is for
// checkEncoding to find.
func decoder(r io.Reader, enc string) (*bufio.Reader, error) {
	e, err := textEncoding(enc)
	if err != nil {
		return nil, err
	}
	if e != nil {
		r = transform.NewReader(r, e.NewDecoder())
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	}
	return br, nil
}

// checkEncoding reports the first value that is not valid text.
func checkEncoding(file string, line int, names, values []string) *RowError {
	for i, v := range values {
		bad := ""
		switch {
		case !utf8.ValidString(v):
			bad = "invalid UTF-8"
		case strings.ContainsRune(v, utf8.RuneError):
			bad = "bytes not valid in the file's encoding (U+FFFD)"
		}
		if bad != "" {
			e := &RowError{File: file, Line: line, Column: i + 1, Reason: bad}
			if i < len(names) {
				e.Field = names[i]
			}
			return e
		}
	}
	return nil
}

// checkHeader refuses a header that names a column twice.
func checkHeader(file string, line int, names []string) error {
	seen := make(map[string]int, len(names))
	for i, n := range names {
		if n == "" {
			continue
		}
		if prev, dup := seen[n]; dup {
			return fatalf(file, line, i+1, "header names column %q twice (columns %d and %d)", n, prev+1, i+1)
		}
		seen[n] = i
	}
	return nil
}

// countError is the row error of a row with the wrong number of fields.
func countError(file string, line int, header []string, n int) *RowError {
	e := &RowError{File: file, Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", n, len(header))}
	if n > len(header) {
		e.Column = len(header) + 1
	} else {
		e.Column = n + 1
		e.Field = header[n]
	}
	return e
}
