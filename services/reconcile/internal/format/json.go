package format

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// lineCounter passes bytes through and remembers where lines start, so a decoder offset can be
// told as line and column. Offsets are asked in increasing order, so only the newlines not yet
// passed are kept.
type lineCounter struct {
	r        io.Reader
	read     int64   // bytes passed through
	pending  []int64 // offsets of newlines beyond the last position asked
	line     int     // 1-based line of the last position asked
	lineFrom int64   // offset where that line starts
}

func newLineCounter(r io.Reader) *lineCounter { return &lineCounter{r: r, line: 1} }

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range n {
		if p[i] == '\n' {
			c.pending = append(c.pending, c.read+int64(i))
		}
	}
	c.read += int64(n)
	return n, err
}

// pos returns the 1-based line and byte column of offset off.
func (c *lineCounter) pos(off int64) (int, int) {
	i := 0
	for i < len(c.pending) && c.pending[i] < off {
		c.line++
		c.lineFrom = c.pending[i] + 1
		i++
	}
	c.pending = c.pending[i:]
	return c.line, int(off-c.lineFrom) + 1
}

// object is one decoded JSON object, or why it is not a flat one.
type object struct {
	names, values []string
	problem       string // not a flat object; the value has been read past
	column        int    // 1-based field of the problem, 0 for the whole value
	field         string
	at            int64 // decoder offset of the value's first byte
}

// readObject reads one JSON value from dec, which must be a flat object: string, number,
// boolean or null values. Any other value is read past and reported in problem; an error is
// a syntax error or a failing source, after which dec cannot go on.
func readObject(dec *json.Decoder) (object, error) {
	tok, err := dec.Token()
	if err != nil {
		return object{}, err
	}
	at := dec.InputOffset() - 1 // a delimiter is one byte; a scalar is placed at its end
	d, ok := tok.(json.Delim)
	if !ok {
		return object{problem: fmt.Sprintf("a %s, not an object", jsonKind(tok)), at: at}, nil
	}
	if d != '{' {
		if err := skipRest(dec); err != nil {
			return object{}, err
		}
		return object{problem: "an array, not an object", at: at}, nil
	}
	o := object{at: at}
	seen := make(map[string]bool)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return object{}, err
		}
		key, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return object{}, err
		}
		field := len(o.names) + 1
		if seen[key] && o.problem == "" {
			o.problem, o.column, o.field = fmt.Sprintf("key %q twice", key), field, key
		}
		seen[key] = true
		switch v := vt.(type) {
		case json.Delim: // a nested object or array
			if err := skipRest(dec); err != nil {
				return object{}, err
			}
			if o.problem == "" {
				o.problem, o.column, o.field = fmt.Sprintf("%q is nested; want a flat object of texts and numbers", key), field, key
			}
			continue
		case nil:
			continue // null: the column is absent
		case string:
			o.names, o.values = append(o.names, key), append(o.values, v)
		case json.Number:
			o.names, o.values = append(o.names, key), append(o.values, string(v))
		case bool:
			o.names, o.values = append(o.names, key), append(o.values, fmt.Sprint(v))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return object{}, err
	}
	return o, nil
}

// skipRest reads past the rest of an object or array whose opening delimiter was just read.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

// jsonReader streams a top-level JSON array of flat objects.
type jsonReader struct {
	file  string
	lc    *lineCounter
	dec   *json.Decoder
	ended bool
}

func newJSONReader(br *bufio.Reader, file string, _ Options) (Reader, error) {
	lc := newLineCounter(br)
	dec := json.NewDecoder(lc)
	dec.UseNumber()
	j := &jsonReader{file: file, lc: lc, dec: dec}
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, fatalf(file, 0, 0, "empty: want a JSON array of objects")
	}
	if err != nil {
		return nil, j.fatal(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		line, col := lc.pos(dec.InputOffset() - 1)
		return nil, fatalf(file, line, col, "want a JSON array of objects")
	}
	return j, nil
}

func (j *jsonReader) fatal(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		line, col := j.lc.pos(se.Offset)
		return fatalf(j.file, line, col, "%v", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		line, col := j.lc.pos(j.lc.read)
		return fatalf(j.file, line, col, "the JSON array ends early")
	}
	return err // the source failed
}

func (j *jsonReader) Header() []string { return nil }
func (j *jsonReader) Close() error     { return nil }

func (j *jsonReader) Next() (Record, error) {
	if j.ended {
		return Record{}, io.EOF
	}
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil { // the closing ]
			return Record{}, j.fatal(err)
		}
		if _, err := j.dec.Token(); !errors.Is(err, io.EOF) {
			line, col := j.lc.pos(j.dec.InputOffset() - 1)
			return Record{}, fatalf(j.file, line, col, "data after the JSON array")
		}
		j.ended = true
		return Record{}, io.EOF
	}
	o, err := readObject(j.dec)
	if err != nil {
		return Record{}, j.fatal(err)
	}
	line, _ := j.lc.pos(o.at)
	return record(j.file, line, o)
}

func record(file string, line int, o object) (Record, error) {
	if o.problem != "" {
		return Record{}, &RowError{File: file, Line: line, Column: o.column, Field: o.field, Reason: o.problem}
	}
	if e := checkEncoding(file, line, o.names, o.values); e != nil {
		return Record{}, e
	}
	return Record{Line: line, Names: o.names, Values: o.values}, nil
}

// jsonlReader reads one JSON object per line; a broken line is a row error.
type jsonlReader struct {
	file string
	r    *bufio.Reader
	line int
}

func newJSONLReader(br *bufio.Reader, file string, _ Options) (Reader, error) {
	return &jsonlReader{file: file, r: br}, nil
}

func (j *jsonlReader) Header() []string { return nil }
func (j *jsonlReader) Close() error     { return nil }

func (j *jsonlReader) Next() (Record, error) {
	for {
		s, err := j.r.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || s == "") {
			return Record{}, err
		}
		j.line++
		if strings.TrimSpace(s) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		o, err := readObject(dec)
		if err != nil {
			col := 0
			if se, ok := errors.AsType[*json.SyntaxError](err); ok {
				col = int(se.Offset)
			}
			reason := err.Error()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				reason, col = "the JSON object ends early", len(strings.TrimRight(s, "\r\n"))+1
			}
			return Record{}, &RowError{File: j.file, Line: j.line, Column: col, Reason: reason}
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return Record{}, &RowError{File: j.file, Line: j.line, Column: int(dec.InputOffset()), Reason: "more than one JSON value on the line"}
		}
		return record(j.file, j.line, o)
	}
}
