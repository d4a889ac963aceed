package format

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/transform"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// Writer writes records in one of the formats, for result files and generated test files.
type Writer interface {
	// Write writes one record, values in header order. A record with more values than the
	// header is written as the format shows a ragged row (extra fields; for JSON an array
	// instead of an object; for xlsx cells beyond the header), which readers report as a
	// malformed row: generated test files use it to plant one.
	Write(values []string) error
	// Close finishes the file (the closing ] of a JSON array, the xlsx archive); it does not
	// close the underlying writer.
	Close() error
}

// NewWriter writes a file with the given header to w, laid out as o says.
func NewWriter(w io.Writer, o Options, header []string) (Writer, error) {
	if o.Format == "" {
		o.Format = job.FormatCSV
	}
	if o.Format == job.FormatXLSX {
		return newXLSXWriter(w, o, header)
	}
	enc, err := textEncoding(o.Encoding)
	if err != nil {
		return nil, err
	}
	tw := &textWriter{dst: w, header: header, format: o.Format, delim: o.Delimiter}
	out := w
	if enc != nil {
		tw.enc = transform.NewWriter(w, enc.NewEncoder())
		out = tw.enc
	}
	tw.w = bufio.NewWriter(out)
	switch o.Format {
	case job.FormatCSV:
		tw.csv = csv.NewWriter(tw.w)
		if o.Delimiter != "" {
			tw.csv.Comma, _ = utf8.DecodeRuneInString(o.Delimiter)
		}
		if !o.NoHeader {
			err = tw.csv.Write(header)
		}
	case job.FormatTXT:
		if tw.delim == "" {
			tw.delim = job.DefaultTXTDelim
		}
		if !o.NoHeader {
			_, err = tw.w.WriteString(strings.Join(header, tw.delim) + "\n")
		}
	case job.FormatJSON:
		_, err = tw.w.WriteString("[")
	case job.FormatJSONL:
	default:
		return nil, fmt.Errorf("format %q: want csv, txt, json, jsonl or xlsx", o.Format)
	}
	return tw, err
}

type textWriter struct {
	dst    io.Writer
	enc    *transform.Writer
	w      *bufio.Writer
	csv    *csv.Writer
	format string
	delim  string
	header []string
	n      int
}

func (t *textWriter) Write(values []string) error {
	t.n++
	switch t.format {
	case job.FormatCSV:
		return t.csv.Write(values)
	case job.FormatTXT:
		_, err := t.w.WriteString(strings.Join(values, t.delim) + "\n")
		return err
	}
	var b strings.Builder
	if t.format == job.FormatJSON {
		if t.n > 1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	if len(values) > len(t.header) {
		raw, _ := json.Marshal(values)
		b.Write(raw)
	} else {
		b.WriteString("{")
		for i, v := range values {
			if i > 0 {
				b.WriteString(",")
			}
			k, _ := json.Marshal(t.header[i])
			val, _ := json.Marshal(v)
			b.Write(k)
			b.WriteString(":")
			b.Write(val)
		}
		b.WriteString("}")
	}
	if t.format == job.FormatJSONL {
		b.WriteString("\n")
	}
	_, err := t.w.WriteString(b.String())
	return err
}

func (t *textWriter) Close() error {
	if t.csv != nil {
		t.csv.Flush()
		if err := t.csv.Error(); err != nil {
			return err
		}
	}
	if t.format == job.FormatJSON {
		if _, err := t.w.WriteString("\n]\n"); err != nil {
			return err
		}
	}
	if err := t.w.Flush(); err != nil {
		return err
	}
	if t.enc != nil {
		return t.enc.Close()
	}
	return nil
}

// xlsxWriter streams rows into one sheet and writes the workbook on Close.
type xlsxWriter struct {
	dst io.Writer
	f   *excelize.File
	sw  *excelize.StreamWriter
	row int
}

func newXLSXWriter(w io.Writer, o Options, header []string) (Writer, error) {
	f := excelize.NewFile()
	sheet := o.Sheet
	if sheet == "" {
		sheet = "Sheet1"
	}
	if sheet != "Sheet1" {
		if err := f.SetSheetName("Sheet1", sheet); err != nil {
			return nil, err
		}
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	x := &xlsxWriter{dst: w, f: f, sw: sw, row: max(o.HeaderRow, 1) - 1}
	if err := x.Write(header); err != nil {
		return nil, err
	}
	return x, nil
}

func (x *xlsxWriter) Write(values []string) error {
	x.row++
	cells := make([]any, len(values))
	for i, v := range values {
		cells[i] = v // text cells: a business file's "00123" or "12.50" stays as written
	}
	cell, err := excelize.CoordinatesToCellName(1, x.row)
	if err != nil {
		return err
	}
	return x.sw.SetRow(cell, cells)
}

func (x *xlsxWriter) Close() error {
	if err := x.sw.Flush(); err != nil {
		return err
	}
	if err := x.f.Write(x.dst); err != nil {
		return err
	}
	return x.f.Close()
}
