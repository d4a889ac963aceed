package format

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
)

// xlsxReader reads one sheet with excelize's row iterator. The workbook is a zip archive and
// needs random access: excelize keeps it in memory, and spills worksheets beyond its unzip
// limit to temporary files, so rows are still produced one at a time.
//
// Cells are read as displayed, number formats applied ("1,234.50", a date as its format shows
// it): what a person checking the sheet sees, and what a CSV saved from it would hold. The
// comparators read thousands separators; a time field's format must be the displayed one.
type xlsxReader struct {
	file   string
	f      *excelize.File
	rows   *excelize.Rows
	header []string
	row    int
}

func newXLSXReader(r io.Reader, file string, o Options) (Reader, error) {
	if o.Encoding != "" && !strings.EqualFold(o.Encoding, job.EncodingUTF8) && !strings.EqualFold(o.Encoding, "utf8") {
		return nil, fatalf(file, 0, 0, "xlsx text is always Unicode, encoding %q does not apply", o.Encoding)
	}
	f, err := excelize.OpenReader(r)
	if err != nil {
		return nil, fatalf(file, 0, 0, "not an xlsx workbook: %v", err)
	}
	x := &xlsxReader{file: file, f: f}
	sheet := o.Sheet
	if sheet == "" {
		sheet = f.GetSheetName(0)
	}
	if idx, err := f.GetSheetIndex(sheet); err != nil || idx < 0 {
		_ = f.Close()
		return nil, fatalf(file, 0, 0, "no sheet %q (the workbook has %s)", sheet, strings.Join(f.GetSheetList(), ", "))
	}
	x.file = fmt.Sprintf("%s[%s]", file, sheet)
	rows, err := f.Rows(sheet)
	if err != nil {
		_ = f.Close()
		return nil, fatalf(x.file, 0, 0, "read sheet: %v", err)
	}
	x.rows = rows
	headerRow := max(o.HeaderRow, 1)
	for x.row < headerRow {
		if !rows.Next() {
			_ = x.Close()
			if err := rows.Error(); err != nil {
				return nil, fatalf(x.file, x.row, 0, "%v", err)
			}
			return nil, fatalf(x.file, 0, 0, "no header row %d", headerRow)
		}
		x.row++
	}
	h, err := rows.Columns()
	if err != nil {
		_ = x.Close()
		return nil, fatalf(x.file, x.row, 0, "header: %v", err)
	}
	for len(h) > 0 && strings.TrimSpace(h[len(h)-1]) == "" {
		h = h[:len(h)-1]
	}
	if len(h) == 0 {
		_ = x.Close()
		return nil, fatalf(x.file, x.row, 0, "header row %d is empty", headerRow)
	}
	for i := range h {
		h[i] = strings.TrimSpace(h[i])
	}
	if err := checkHeader(x.file, x.row, h); err != nil {
		_ = x.Close()
		return nil, err
	}
	x.header = h
	return x, nil
}

func (x *xlsxReader) Header() []string { return x.header }

func (x *xlsxReader) Close() error {
	var err error
	if x.rows != nil {
		err = x.rows.Close()
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Next returns the next non-empty row. Cells left of the header's width are the values; a
// row shorter than the header has empty values; a non-empty cell right of the header is a
// row error.
func (x *xlsxReader) Next() (Record, error) {
	for x.rows.Next() {
		x.row++
		cells, err := x.rows.Columns()
		if err != nil {
			return Record{}, &RowError{File: x.file, Line: x.row, Reason: err.Error()}
		}
		if !slices.ContainsFunc(cells, func(c string) bool { return c != "" }) {
			continue
		}
		for i := len(x.header); i < len(cells); i++ {
			if cells[i] != "" {
				cell, _ := excelize.CoordinatesToCellName(i+1, x.row)
				return Record{}, &RowError{File: x.file, Line: x.row, Column: i + 1,
					Reason: fmt.Sprintf("cell %s holds %q beyond the header's %d columns", cell, clip(cells[i]), len(x.header))}
			}
		}
		values := make([]string, len(x.header))
		copy(values, cells)
		if e := checkEncoding(x.file, x.row, x.header, values); e != nil {
			return Record{}, e
		}
		return Record{Line: x.row, Names: x.header, Values: values}, nil
	}
	if err := x.rows.Error(); err != nil {
		return Record{}, fatalf(x.file, x.row+1, 0, "%v", err)
	}
	return Record{}, io.EOF
}

func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:40]) + "…"
}
