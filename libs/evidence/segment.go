package evidence

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
)

// Segment format identity, written in every header.
const (
	SegmentFormat  = "bcosdata.evidence.segment"
	SegmentVersion = 1
)

// MaxSegmentNameLen bounds a segment name (it is also anchored on chain).
const MaxSegmentNameLen = 256

// SegmentHeader describes a sealed segment: one batch of records.
type SegmentHeader struct {
	Version int       // SegmentVersion
	Name    string    // unique segment name, e.g. "evidence-000000000042"
	BatchID [32]byte  // BatchID(Name, Root)
	Root    [32]byte  // RFC 6962 root over the records' leaf hashes, in order
	Count   int       // number of records
	Created time.Time // when the segment was sealed (millisecond precision)
}

// NewSegmentHeader returns the header of a segment named name holding recs, sealed at created.
func NewSegmentHeader(name string, created time.Time, recs []Record) SegmentHeader {
	root := Root(LeafHashes(recs))
	return SegmentHeader{
		Version: SegmentVersion, Name: name, BatchID: BatchID(name, root), Root: root,
		Count: len(recs), Created: time.UnixMilli(created.UnixMilli()).UTC(),
	}
}

// LeafHashes returns the leaf hash of each record, in order.
func LeafHashes(recs []Record) [][32]byte {
	out := make([][32]byte, len(recs))
	for i := range recs {
		out[i] = LeafHash(&recs[i])
	}
	return out
}

type segmentHeaderJSON struct {
	Format  string      `json:"format"`
	Version int         `json:"version"`
	Name    string      `json:"name"`
	BatchID common.Hash `json:"batch_id"`
	Root    common.Hash `json:"root"`
	Count   int         `json:"count"`
	Created string      `json:"created"`
}

// WriteSegment writes a segment file: one line with the header as a JSON object
//
//	{"format":"bcosdata.evidence.segment","version":1,"name":…,"batch_id":"0x…","root":"0x…","count":N,"created":"RFC 3339"}
//
// then one line per record, in leaf order, each the record's JSON form (Record.MarshalJSON).
// Lines end in "\n"; the file is UTF-8 text a person can read with head and jq. WriteSegment
// refuses a header that does not match recs (count, root, batch id) or an invalid record, so
// every segment it writes passes VerifySegment.
func WriteSegment(w io.Writer, hdr SegmentHeader, recs []Record) error {
	if err := checkHeader(hdr); err != nil {
		return fmt.Errorf("write segment: %w", err)
	}
	if hdr.Count != len(recs) {
		return fmt.Errorf("write segment %s: header count %d, %d records: %w", hdr.Name, hdr.Count, len(recs), ErrBadSegment)
	}
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return fmt.Errorf("write segment %s: record %d: %w", hdr.Name, i, err)
		}
	}
	if root := Root(LeafHashes(recs)); root != hdr.Root {
		return fmt.Errorf("write segment %s: header root %x, records give %x: %w", hdr.Name, hdr.Root, root, ErrBadSegment)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	line, err := json.Marshal(segmentHeaderJSON{
		Format: SegmentFormat, Version: hdr.Version, Name: hdr.Name, BatchID: hdr.BatchID,
		Root: hdr.Root, Count: hdr.Count, Created: hdr.Created.UTC().Format(timeLayout),
	})
	if err != nil {
		return fmt.Errorf("write segment %s: encode header: %w", hdr.Name, err)
	}
	if _, err := bw.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write segment %s: %w", hdr.Name, err)
	}
	for i := range recs {
		line, err := json.Marshal(recs[i])
		if err != nil {
			return fmt.Errorf("write segment %s: encode record %d: %w", hdr.Name, i, err)
		}
		if _, err := bw.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("write segment %s: record %d: %w", hdr.Name, i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write segment %s: %w", hdr.Name, err)
	}
	return nil
}

func checkHeader(hdr SegmentHeader) error {
	switch {
	case hdr.Version != SegmentVersion:
		return fmt.Errorf("segment %q: version %d, this build reads %d: %w", clip(hdr.Name), hdr.Version, SegmentVersion, ErrBadSegment)
	case hdr.Name == "" || len(hdr.Name) > MaxSegmentNameLen || !utf8.ValidString(hdr.Name):
		return fmt.Errorf("segment name %q: want 1 to %d bytes of UTF-8: %w", clip(hdr.Name), MaxSegmentNameLen, ErrBadSegment)
	case hdr.Count < 0:
		return fmt.Errorf("segment %s: negative count %d: %w", hdr.Name, hdr.Count, ErrBadSegment)
	case BatchID(hdr.Name, hdr.Root) != hdr.BatchID:
		return fmt.Errorf("segment %s: batch id %x is not BatchID(name, root %x): %w", hdr.Name, hdr.BatchID, hdr.Root, ErrBadSegment)
	}
	return nil
}

// ReadSegment reads a segment written by WriteSegment. It checks the structure (format,
// version, header consistency, record count, nothing after the last record) but not the
// records against the root: VerifySegment does.
func ReadSegment(r io.Reader) (SegmentHeader, []Record, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var hj segmentHeaderJSON
	if err := dec.Decode(&hj); err != nil {
		return SegmentHeader{}, nil, fmt.Errorf("read segment header: %w: %w", ErrBadSegment, err)
	}
	if hj.Format != SegmentFormat {
		return SegmentHeader{}, nil, fmt.Errorf("read segment header: format %q, want %q: %w", clip(hj.Format), SegmentFormat, ErrBadSegment)
	}
	// WriteSegment always writes the sealing time; a header without it is not one of ours
	// (and would not survive a rewrite: the zero time is not a time a header can carry).
	if hj.Created == "" {
		return SegmentHeader{}, nil, fmt.Errorf("read segment %q header: created is missing: %w", clip(hj.Name), ErrBadSegment)
	}
	created, err := parseTime(hj.Created)
	if err != nil {
		return SegmentHeader{}, nil, fmt.Errorf("read segment %q header: created: %w: %w", clip(hj.Name), ErrBadSegment, err)
	}
	hdr := SegmentHeader{Version: hj.Version, Name: hj.Name, BatchID: hj.BatchID, Root: hj.Root, Count: hj.Count, Created: created}
	if err := checkHeader(hdr); err != nil {
		return SegmentHeader{}, nil, fmt.Errorf("read segment header: %w", err)
	}
	// The count comes from the file: grow as records arrive rather than trusting it.
	recs := make([]Record, 0, min(hdr.Count, 1024))
	for i := range hdr.Count {
		var rec Record
		if err := dec.Decode(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return SegmentHeader{}, nil, fmt.Errorf("read segment %s: record %d of %d: %w: %w", hdr.Name, i, hdr.Count, ErrBadSegment, err)
		}
		recs = append(recs, rec)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the last record")
		}
		return SegmentHeader{}, nil, fmt.Errorf("read segment %s: after %d records: %w: %w", hdr.Name, hdr.Count, ErrBadSegment, err)
	}
	return hdr, recs, nil
}

// VerifySegment reads a segment and checks every record (fields, payload against its hash) and
// that the records' tree root is the header's root. It returns the root and the record count.
// Signatures are not checked: that needs the publisher registry.
func VerifySegment(r io.Reader) (root [32]byte, n int, err error) {
	hdr, recs, err := ReadSegment(r)
	if err != nil {
		return root, 0, err
	}
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return root, 0, fmt.Errorf("verify segment %s: record %d: %w: %w", hdr.Name, i, ErrBadSegment, err)
		}
	}
	root = Root(LeafHashes(recs))
	if root != hdr.Root {
		return root, 0, fmt.Errorf("verify segment %s: records give root %x, header says %x: %w", hdr.Name, root, hdr.Root, ErrBadSegment)
	}
	return root, len(recs), nil
}
