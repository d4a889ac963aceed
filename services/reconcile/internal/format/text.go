package format

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// csvReader reads RFC 4180 CSV with encoding/csv: quoting, CRLF, a configurable delimiter.
type csvReader struct {
	file   string
	r      *csv.Reader
	header []string
}

func newCSVReader(br *bufio.Reader, file string, o Options) (Reader, error) {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // counted here, so a short row is a row error rather than the end
	if o.Delimiter != "" {
		d, size := utf8.DecodeRuneInString(o.Delimiter)
		if size != len(o.Delimiter) || d == '"' || d == '\r' || d == '\n' {
			return nil, fatalf(file, 0, 0, "csv delimiter %q: want one character other than a quote or line break", o.Delimiter)
		}
		cr.Comma = d
	}
	c := &csvReader{file: file, r: cr}
	if o.NoHeader {
		c.header = o.Columns
		return c, nil
	}
	h, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fatalf(file, 0, 0, "empty: no header line")
	}
	if err != nil {
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			return nil, fatalf(file, pe.Line, pe.Column, "header: %v", pe.Err)
		}
		return nil, err
	}
	for i := range h {
		h[i] = strings.TrimSpace(h[i])
	}
	line, _ := cr.FieldPos(0)
	if e := checkEncoding(file, line, nil, h); e != nil {
		return nil, fatalf(file, line, e.Column, "header: %s", e.Reason)
	}
	if err := checkHeader(file, line, h); err != nil {
		return nil, err
	}
	c.header = h
	return c, nil
}

func (c *csvReader) Header() []string { return c.header }
func (c *csvReader) Close() error     { return nil }

func (c *csvReader) Next() (Record, error) {
	values, err := c.r.Read()
	if err != nil {
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			return Record{}, &RowError{File: c.file, Line: pe.Line, Column: pe.Column, Reason: pe.Err.Error()}
		}
		return Record{}, err // io.EOF, or the source failing
	}
	line, _ := c.r.FieldPos(0)
	if len(values) != len(c.header) {
		return Record{}, countError(c.file, line, c.header, len(values))
	}
	if e := checkEncoding(c.file, line, c.header, values); e != nil {
		return Record{}, e
	}
	return Record{Line: line, Names: c.header, Values: values}, nil
}

// txtReader reads Data-Reconcile's TXT: one record per line, fields between a delimiter
// ("#_#"), no quoting, a header line, and lines that may end with one more delimiter.
type txtReader struct {
	file   string
	r      *bufio.Reader
	delim  string
	header []string
	line   int
}

func newTXTReader(br *bufio.Reader, file string, o Options) (Reader, error) {
	t := &txtReader{file: file, r: br, delim: o.Delimiter}
	if t.delim == "" {
		t.delim = job.DefaultTXTDelim
	}
	if o.NoHeader {
		t.header = o.Columns
		return t, nil
	}
	for {
		line, err := t.readLine()
		if errors.Is(err, io.EOF) {
			return nil, fatalf(file, 0, 0, "empty: no header line")
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		h := t.split(line)
		for i := range h {
			h[i] = strings.TrimSpace(h[i])
		}
		if e := checkEncoding(file, t.line, nil, h); e != nil {
			return nil, fatalf(file, t.line, e.Column, "header: %s", e.Reason)
		}
		if err := checkHeader(file, t.line, h); err != nil {
			return nil, err
		}
		t.header = h
		return t, nil
	}
}

// readLine returns the next line without its line break; io.EOF only when nothing is left.
func (t *txtReader) readLine() (string, error) {
	s, err := t.r.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || s == "") {
		return "", err
	}
	t.line++
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// split cuts a line into fields. A line may end with one more delimiter (Data-Reconcile
// writes them so); it is taken as such only when the fields then fit the header, because
// "a#_#b#_#" is also how a row whose last value is empty looks.
func (t *txtReader) split(line string) []string {
	values := strings.Split(line, t.delim)
	if n := len(values); n > 1 && values[n-1] == "" && (t.header == nil || n == len(t.header)+1) {
		values = values[:n-1]
	}
	return values
}

func (t *txtReader) Header() []string { return t.header }
func (t *txtReader) Close() error     { return nil }

func (t *txtReader) Next() (Record, error) {
	for {
		line, err := t.readLine()
		if err != nil {
			return Record{}, err
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		values := t.split(line)
		if len(values) != len(t.header) {
			return Record{}, countError(t.file, t.line, t.header, len(values))
		}
		if e := checkEncoding(t.file, t.line, t.header, values); e != nil {
			return Record{}, e
		}
		return Record{Line: t.line, Names: t.header, Values: values}, nil
	}
}
