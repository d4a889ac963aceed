package evidence_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/evidence"
)

func kaRecord() evidence.Record {
	r := evidence.Record{
		ID: "r-1", Publisher: "acme", Category: "invoice", Kind: evidence.KindPublish,
		NotBefore: time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC),
	}
	r.SetPayload(evidence.PayloadJSON, []byte(`{"a":1}`))
	return r
}

// The expected bytes are spelled out field by field from the layout in the package doc.
func TestSigningBytesKnownAnswer(t *testing.T) {
	r := kaRecord()
	want := strings.Join([]string{
		hex.EncodeToString([]byte("bcosdata.evidence.record.v1")), "00",
		"00000007", hex.EncodeToString([]byte("publish")),
		"00000003", hex.EncodeToString([]byte("r-1")),
		"00000004", hex.EncodeToString([]byte("acme")),
		"00000007", hex.EncodeToString([]byte("invoice")),
		"00000004", hex.EncodeToString([]byte("json")),
		"015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862", // SHA-256 of {"a":1}
		"01", "0000019b7ca98f2e", // not_before 2026-01-02T03:04:05.678Z = 1767323045678 ms
		"00",       // not_after open
		"00000000", // no target
	}, "")
	if got := hex.EncodeToString(r.SigningBytes()); got != want {
		t.Fatalf("SigningBytes\n got %s\nwant %s", got, want)
	}
	// Erasing the payload changes nothing signed.
	e := r
	e.Erase()
	if hex.EncodeToString(e.SigningBytes()) != want {
		t.Fatal("erasing the payload changed SigningBytes")
	}
	// Sub-millisecond time is not signed.
	s := r
	s.NotBefore = s.NotBefore.Add(999 * time.Microsecond)
	if hex.EncodeToString(s.SigningBytes()) != want {
		t.Fatal("sub-millisecond not_before changed SigningBytes")
	}
}

func TestSigningBytesSeparatesFields(t *testing.T) {
	// Moving bytes between adjacent fields must change the encoding.
	a := kaRecord()
	b := kaRecord()
	a.Publisher, a.Category = "acme", "invoice"
	b.Publisher, b.Category = "acmei", "nvoice"
	if string(a.SigningBytes()) == string(b.SigningBytes()) {
		t.Fatal("publisher/category boundary not encoded")
	}
	c := kaRecord()
	c.NotBefore, c.NotAfter = time.Time{}, a.NotBefore
	if string(a.SigningBytes()) == string(c.SigningBytes()) {
		t.Fatal("not_before/not_after swap not encoded")
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	empty := kaRecord()
	empty.SetPayload(evidence.PayloadBytes, []byte{})
	erased := kaRecord()
	erased.Erase()
	full := kaRecord()
	full.Kind, full.Target = evidence.KindSupersede, "r-0"
	full.NotAfter = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	full.Signature = []byte{1, 2, 3}
	for name, r := range map[string]evidence.Record{"payload": kaRecord(), "empty payload": empty, "erased": erased, "full": full} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var got evidence.Record
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if diff := cmp.Diff(r, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Fatalf("round trip of %s (-want +got):\n%s", b, diff)
			}
			if got.Erased() != r.Erased() {
				t.Fatalf("erased %v after round trip, want %v", got.Erased(), r.Erased())
			}
			if string(got.SigningBytes()) != string(r.SigningBytes()) {
				t.Fatal("SigningBytes changed by a JSON round trip")
			}
		})
	}
}

func TestRecordJSONForm(t *testing.T) {
	r := kaRecord()
	r.Signature = []byte{0xab}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"r-1","publisher":"acme","category":"invoice","kind":"publish","payload_type":"json",` +
		`"payload":"0x7b2261223a317d","payload_hash":"0x015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862",` +
		`"not_before":"2026-01-02T03:04:05.678Z","signature":"0xab"}`
	if string(b) != want {
		t.Fatalf("record JSON\n got %s\nwant %s", b, want)
	}
}

func TestRecordValidate(t *testing.T) {
	cases := map[string]func(*evidence.Record){
		"empty id":          func(r *evidence.Record) { r.ID = "" },
		"long id":           func(r *evidence.Record) { r.ID = strings.Repeat("x", evidence.MaxIDLen+1) },
		"no publisher":      func(r *evidence.Record) { r.Publisher = "" },
		"bad utf8":          func(r *evidence.Record) { r.Category = "\xff" },
		"unknown kind":      func(r *evidence.Record) { r.Kind = "delete" },
		"publish target":    func(r *evidence.Record) { r.Target = "r-0" },
		"revoke no target":  func(r *evidence.Record) { r.Kind = evidence.KindRevoke },
		"self target":       func(r *evidence.Record) { r.Kind, r.Target = evidence.KindRevoke, r.ID },
		"payload type":      func(r *evidence.Record) { r.PayloadType = "xml" },
		"payload mismatch":  func(r *evidence.Record) { r.Payload = []byte(`{"a":2}`) },
		"invalid json":      func(r *evidence.Record) { r.SetPayload(evidence.PayloadJSON, []byte(`{"a":`)) },
		"window backwards":  func(r *evidence.Record) { r.NotAfter = r.NotBefore.Add(-time.Millisecond) },
		"erase no target":   func(r *evidence.Record) { r.Kind = evidence.KindErase },
		"supersede nothing": func(r *evidence.Record) { r.Kind = evidence.KindSupersede },
	}
	ok := kaRecord()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid record rejected: %v", err)
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := kaRecord()
			mutate(&r)
			if err := r.Validate(); !errors.Is(err, evidence.ErrInvalidRecord) {
				t.Fatalf("err = %v, want ErrInvalidRecord", err)
			}
		})
	}
	erased := kaRecord()
	erased.Erase()
	if err := erased.Validate(); err != nil {
		t.Fatalf("erased record rejected: %v", err)
	}
}

func TestValidAt(t *testing.T) {
	r := kaRecord()
	r.NotAfter = r.NotBefore.Add(time.Hour)
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{r.NotBefore.Add(-time.Millisecond), false},
		{r.NotBefore, true},
		{r.NotAfter, true},
		{r.NotAfter.Add(time.Millisecond), false},
	} {
		if got := r.ValidAt(c.at); got != c.want {
			t.Errorf("ValidAt(%s) = %v, want %v", c.at, got, c.want)
		}
	}
}
