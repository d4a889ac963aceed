package evidence_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

var sealed = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// batch returns n signed records of one ECDSA publisher; every third one has its payload erased.
func batch(t testing.TB, n int) ([]evidence.Record, evidence.PublisherKey) {
	t.Helper()
	s := cryptosuite.ECDSA()
	k := key(t, s, "publisher acme")
	recs := make([]evidence.Record, n)
	for i := range recs {
		r := evidence.Record{ID: fmt.Sprintf("r-%03d", i), Publisher: "acme", Category: "invoice", Kind: evidence.KindPublish}
		r.SetPayload(evidence.PayloadJSON, fmt.Appendf(nil, `{"n":%d}`, i))
		if err := evidence.Sign(s, k, &r); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			r.Erase()
		}
		recs[i] = r
	}
	return recs, evidence.NewPublisherKey(s, k.PublicKey())
}

func writeSegment(t testing.TB, hdr evidence.SegmentHeader, recs []evidence.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := evidence.WriteSegment(&buf, hdr, recs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSegmentRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs, _ := batch(t, n)
			hdr := evidence.NewSegmentHeader("evidence-000042", sealed, recs)
			file := writeSegment(t, hdr, recs)
			if lines := bytes.Count(file, []byte("\n")); lines != n+1 {
				t.Fatalf("%d lines, want header + %d records", lines, n)
			}
			gotHdr, got, err := evidence.ReadSegment(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(hdr, gotHdr); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(recs, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" && n > 0 {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			root, count, err := evidence.VerifySegment(bytes.NewReader(file))
			if err != nil || root != hdr.Root || count != n {
				t.Fatalf("VerifySegment = %x, %d, %v; want %x, %d", root, count, err, hdr.Root, n)
			}
			if hdr.BatchID != evidence.BatchID(hdr.Name, hdr.Root) {
				t.Fatal("header batch id is not BatchID(name, root)")
			}
		})
	}
}

func TestSegmentHeaderLine(t *testing.T) {
	file := writeSegment(t, evidence.NewSegmentHeader("s1", sealed, nil), nil)
	want := `{"format":"bcosdata.evidence.segment","version":1,"name":"s1",` +
		`"batch_id":"0x` + fmt.Sprintf("%x", evidence.BatchID("s1", evidence.Root(nil))) + `",` +
		`"root":"0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","count":0,` +
		`"created":"2026-12-06T10:00:00.000Z"}` + "\n"
	if string(file) != want {
		t.Fatalf("segment\n got %s\nwant %s", file, want)
	}
}

func TestWriteSegmentRefusesMismatch(t *testing.T) {
	recs, _ := batch(t, 4)
	good := evidence.NewSegmentHeader("s", sealed, recs)
	cases := map[string]func() error{
		"count": func() error { return evidence.WriteSegment(&bytes.Buffer{}, good, recs[:3]) },
		"root": func() error {
			h := good
			h.Root[0] ^= 1
			h.BatchID = evidence.BatchID(h.Name, h.Root)
			return evidence.WriteSegment(&bytes.Buffer{}, h, recs)
		},
		"batch id": func() error {
			h := good
			h.BatchID[0] ^= 1
			return evidence.WriteSegment(&bytes.Buffer{}, h, recs)
		},
		"name": func() error {
			h := evidence.NewSegmentHeader("", sealed, recs)
			return evidence.WriteSegment(&bytes.Buffer{}, h, recs)
		},
		"version": func() error {
			h := good
			h.Version = 2
			return evidence.WriteSegment(&bytes.Buffer{}, h, recs)
		},
	}
	for name, write := range cases {
		if err := write(); !errors.Is(err, evidence.ErrBadSegment) {
			t.Errorf("%s: err = %v, want ErrBadSegment", name, err)
		}
	}
	bad := append([]evidence.Record(nil), recs...)
	bad[1].Kind = "x"
	if err := evidence.WriteSegment(&bytes.Buffer{}, good, bad); !errors.Is(err, evidence.ErrInvalidRecord) {
		t.Errorf("invalid record: err = %v, want ErrInvalidRecord", err)
	}
}

func TestSegmentTamperingDetected(t *testing.T) {
	recs, _ := batch(t, 6)
	hdr := evidence.NewSegmentHeader("evidence-7", sealed, recs)
	file := string(writeSegment(t, hdr, recs))
	lines := strings.SplitAfter(file, "\n")
	cases := map[string]string{
		"record id changed":      strings.Replace(file, `"r-003"`, `"r-933"`, 1),
		"payload changed":        strings.Replace(file, "0x7b226e223a307d", "0x7b226e223a397d", 1),
		"records swapped":        lines[0] + lines[2] + lines[1] + strings.Join(lines[3:], ""),
		"record dropped":         strings.Replace(file, lines[4], "", 1),
		"record added":           file + lines[1],
		"truncated":              file[:len(file)-40],
		"root changed":           strings.Replace(file, fmt.Sprintf("%x", hdr.Root), fmt.Sprintf("%x", evidence.Root(nil)), 1),
		"other format":           strings.Replace(file, "bcosdata.evidence.segment", "bcosdata.evidence.segmant", 1),
		"newer version":          strings.Replace(file, `"version":1`, `"version":2`, 1),
		"not json":               "hello\n",
		"empty":                  "",
		"trailing garbage":       file + "x",
		"signature byte changed": strings.Replace(file, `"signature":"0x`, `"signature":"0x00`, 1),
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := evidence.VerifySegment(strings.NewReader(f)); !errors.Is(err, evidence.ErrBadSegment) {
				t.Fatalf("err = %v, want ErrBadSegment", err)
			}
		})
	}
}

func FuzzReadSegment(f *testing.F) {
	recs, _ := batch(f, 3)
	f.Add(writeSegment(f, evidence.NewSegmentHeader("seed", sealed, recs), recs))
	f.Add(writeSegment(f, evidence.NewSegmentHeader("empty", sealed, nil), nil))
	f.Add([]byte(`{"format":"bcosdata.evidence.segment","version":1,"count":99999999999}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, recs, err := evidence.ReadSegment(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, evidence.ErrBadSegment) {
				t.Fatalf("error not wrapping ErrBadSegment: %v", err)
			}
			return
		}
		if len(recs) != hdr.Count {
			t.Fatalf("read %d records, header count %d", len(recs), hdr.Count)
		}
		// Whatever reads must survive a write/read cycle when it verifies.
		if _, _, err := evidence.VerifySegment(bytes.NewReader(data)); err != nil {
			return
		}
		var buf bytes.Buffer
		if err := evidence.WriteSegment(&buf, hdr, recs); err != nil {
			t.Fatalf("verified segment does not write back: %v", err)
		}
		if _, _, err := evidence.VerifySegment(&buf); err != nil {
			t.Fatalf("rewritten segment does not verify: %v", err)
		}
	})
}
