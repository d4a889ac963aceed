package pgcopy

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestStreamRoundTrip COPYs rows of every type Rows writes through a real PostgreSQL, enough
// of them to span several chunks, and reads each back as PostgreSQL prints it: numerics of
// every shape (zero, "-0", fractions below 10^-4, zero groups inside, 78 digits, negative),
// arrays empty and not, NULLs, the extremes of the integers.
func TestStreamRoundTrip(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (i2 smallint, i4 integer, i8 bigint, b boolean, by bytea, tx text, a text[], j jsonb, n numeric)`); err != nil {
		t.Fatal(err)
	}
	numerics := map[string]string{"0": "0", "-0": "0", "1": "1", "-1": "-1", "0.5": "0.5", "0.00005": "0.00005", "-0.0001": "-0.0001",
		"12345.6": "12345.6", "10000": "10000", "100000000": "100000000", "9999.9999": "9999.9999", "007.50": "7.50",
		"1000000000000.000000000001": "1000000000000.000000000001",
		"115792089237316195423570985008687907853269984665640564039457584007913129639935": "115792089237316195423570985008687907853269984665640564039457584007913129639935"}
	var values []string
	for v := range numerics {
		values = append(values, v)
	}
	const n = 20_000 // several chunks
	long := strings.Repeat("长", 200)
	i := 0
	stream := NewStream(func(w *Rows) (bool, error) {
		if i == n {
			return false, nil
		}
		w.Tuple(9)
		w.Int2(int16(-i))
		w.Int4(int32(i) + math.MinInt32)
		w.Int8(int64(i) + 1<<62)
		w.Bool(i%2 == 0)
		w.Bytes([]byte{byte(i), 0, 0xff})
		w.Text(long)
		if i%3 == 0 {
			w.TextArray(nil)
		} else {
			w.TextArray([]string{"a", "", "键 " + values[i%len(values)]})
		}
		if i%5 == 0 {
			w.Null()
		} else {
			w.JSONB([]byte(`{"k": [1, "二"]}`))
		}
		if err := w.Numeric(values[i%len(values)]); err != nil {
			return false, err
		}
		i++
		return true, nil
	})
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, stream, `COPY t FROM STDIN (FORMAT binary)`)
	if err != nil || tag.RowsAffected() != n {
		t.Fatalf("COPY: %d rows, %v", tag.RowsAffected(), err)
	}
	rows, err := pool.Query(ctx, `SELECT i2, i4, i8, b, by, tx, a, j::text, n::text FROM t ORDER BY i8`)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	var (
		i2      int16
		i4      int32
		i8      int64
		b       bool
		by      []byte
		tx      string
		a       []string
		j, text *string
	)
	_, err = pgx.ForEachRow(rows, []any{&i2, &i4, &i8, &b, &by, &tx, &a, &j, &text}, func() error {
		v := values[k%len(values)]
		wantA := []string{"a", "", "键 " + v}
		if k%3 == 0 {
			wantA = []string{}
		}
		switch {
		case i2 != int16(-k) || i4 != int32(k)+math.MinInt32 || i8 != int64(k)+1<<62 || b != (k%2 == 0):
			t.Errorf("row %d: integers %d %d %d %v", k, i2, i4, i8, b)
		case string(by) != string([]byte{byte(k), 0, 0xff}) || tx != long || strings.Join(a, "|") != strings.Join(wantA, "|") || len(a) != len(wantA):
			t.Errorf("row %d: bytes %x, text %d bytes, array %q", k, by, len(tx), a)
		case (k%5 == 0) != (j == nil) || j != nil && *j != `{"k": [1, "二"]}`:
			t.Errorf("row %d: jsonb %v", k, j)
		case text == nil || *text != numerics[v]:
			t.Errorf("row %d: numeric %q read back as %v", k, v, text)
		}
		k++
		return nil
	})
	if err != nil || k != n {
		t.Fatalf("read %d rows: %v", k, err)
	}
}

// TestNumericRefusesOtherTexts: what is not a plain decimal is an error, appending nothing,
// and the stream ends with that error.
func TestNumericRefusesOtherTexts(t *testing.T) {
	for _, s := range []string{"", "-", ".5", "5.", "1e3", "+1", "--1", "1,000", " 1", "0x10", "NaN", "1.2.3"} {
		var w Rows
		if err := w.Numeric(s); err == nil || w.Len() != 0 {
			t.Errorf("Numeric(%q): %v, %d bytes", s, err, w.Len())
		}
	}
	want := errors.New("row 3 unreadable")
	s := NewStream(func(*Rows) (bool, error) { return false, want })
	buf := make([]byte, 64)
	if _, err := s.Read(buf); err != nil { // the signature
		t.Fatal(err)
	}
	if _, err := s.Read(buf); !errors.Is(err, want) {
		t.Fatalf("Read after a failing fill: %v", err)
	}
}
