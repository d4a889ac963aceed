package store

import (
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestSmallDecimalAgreesWithScan: every text smallDecimal reads is the number
// pgtype.Numeric.Scan reads, and it leaves the others to Scan.
func TestSmallDecimalAgreesWithScan(t *testing.T) {
	read := []string{"0", "-0", "7", "007", "-12", "1.5", "-1.50", "0.01", "737174055",
		"7371740.55", "999999999999999999", "-99999999999999999.9", "100.000"}
	leave := []string{"", "-", ".5", "5.", "1.2.3", "+5", "1e3", "1,234", " 1", "0x10",
		"1234567890123456789", "-1234567890.123456789", "NaN", "١٢"}
	value := func(n pgtype.Numeric) *big.Rat {
		r := new(big.Rat).SetInt(n.Int)
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(n.Exp, -n.Exp))), nil)
		if n.Exp < 0 {
			return r.Quo(r, new(big.Rat).SetInt(p))
		}
		return r.Mul(r, new(big.Rat).SetInt(p))
	}
	for _, s := range read {
		got, ok := smallDecimal(s)
		if !ok {
			t.Errorf("%q: not read", s)
			continue
		}
		var want pgtype.Numeric
		if err := want.Scan(s); err != nil {
			t.Fatalf("%q: Scan: %v", s, err)
		}
		if value(got).Cmp(value(want)) != 0 || !got.Valid {
			t.Errorf("%q: %v, Scan reads %v", s, value(got), value(want))
		}
	}
	for _, s := range leave {
		if n, ok := smallDecimal(s); ok {
			t.Errorf("%q: read as %v, want it left to Scan", s, value(n))
		}
	}
}
