package compare

import (
	"testing"

	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSQLAgreesWithCompare evaluates every comparator's SQL in a real PostgreSQL over the
// canonical texts and checks it decides as Compare does.
func TestSQLAgreesWithCompare(t *testing.T) {
	pool := pgtest.NewPool(t)
	extra := []cmpCase{
		{name: "time DST day", spec: Spec{Kind: Time, Format: "yyyy-MM-dd", Zone: "America/New_York"}, business: "2025-11-02", chain: "1762145999999", equal: true}, // 23:59:59.999 EST, 25 hours after midnight EDT
		{name: "time DST day next", spec: Spec{Kind: Time, Format: "yyyy-MM-dd", Zone: "America/New_York"}, business: "2025-11-02", chain: "1762146000000"},
		{name: "time seconds unit s next", spec: Spec{Kind: Time, Format: "yyyy-MM-dd HH:mm:ss", Zone: "Asia/Shanghai", Unit: "s"}, business: "2025-12-05 23:59:59", chain: "1764950400"},
		{name: "numeric both tolerances", spec: Spec{Kind: Numeric, Tolerance: "1", Relative: "0.5"}, business: "10", chain: "14", equal: true},
		{name: "numeric huge tolerance", spec: Spec{Kind: Numeric, Tolerance: "1"}, business: "115792089237316195423570985008687907853269984665640564039457584007913129639934", chain: "115792089237316195423570985008687907853269984665640564039457584007913129639935", equal: true},
	}
	for _, tc := range append(append([]cmpCase(nil), cmpCases...), extra...) {
		c, err := New(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, berr := c.Business(tc.business)
		ch, cerr := c.Chain(tc.chain)
		if berr != nil || cerr != nil {
			continue // unreadable values are row errors, never reach SQL
		}
		var got bool
		q := "SELECT " + c.SQL("$1::text", "$2::text")
		if err := pool.QueryRow(t.Context(), q, b, ch).Scan(&got); err != nil {
			t.Fatalf("%s: %s: %v", tc.name, q, err)
		}
		want := c.Compare(tc.business, tc.chain).Equal
		if got != want || got != tc.equal {
			t.Errorf("%s: SQL %s with %q, %q = %v; Compare = %v; want %v", tc.name, q, b, ch, got, want, tc.equal)
		}
	}
}
