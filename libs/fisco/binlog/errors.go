package binlog

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrBadVersion reports a file header other than Version.
	ErrBadVersion = errors.New("unsupported binlog version")
	// ErrBadCRC reports a record whose stored CRC-32 differs from the CRC-32 of its body.
	ErrBadCRC = errors.New("binlog record crc mismatch")
	// ErrTruncated reports that the input ends inside the header or a record. The newest file
	// of a running node ends like this while a record is being written: a Reader that returned
	// it can be asked again once more data is there, and resumes at the same record.
	ErrTruncated = errors.New("binlog truncated")
	// ErrMalformed reports a record whose lengths do not add up (a value running past the end
	// of the record, tables not ending exactly at the CRC, a length field too small to hold a
	// record, …).
	ErrMalformed = errors.New("malformed binlog record")
	// ErrInvalid reports a record that cannot be written as given (a table name over 255
	// bytes, values that do not match the field list, …).
	ErrInvalid = errors.New("invalid binlog record")
	// ErrNameMismatch reports a file whose first record is not for the block its name says.
	ErrNameMismatch = errors.New("binlog first block differs from file name")
)

// RecordError is an error about one place of a binlog: the file, the offset of the record's
// length field (0 for the header) and, when it could be read, the record's block number.
type RecordError struct {
	// File names the input (a path, or Options.Name); empty when unknown.
	File string
	// Offset is the file offset of the record's length field, or 0 for the file header.
	Offset int64
	// Block is the record's block number, valid when HasBlock is true.
	Block uint64
	// HasBlock tells whether Block was read.
	HasBlock bool
	// Err is the cause; it wraps one of the package's sentinel errors or an I/O error.
	Err error
}

// Error names the file, offset and block, then the cause.
func (e *RecordError) Error() string {
	b := make([]byte, 0, 96)
	b = append(b, "binlog "...)
	if e.File != "" {
		b = append(b, e.File...)
		b = append(b, ' ')
	}
	b = append(b, "offset "...)
	b = strconv.AppendInt(b, e.Offset, 10)
	if e.HasBlock {
		b = append(b, " block "...)
		b = strconv.AppendUint(b, e.Block, 10)
	}
	b = append(b, ": "...)
	b = append(b, e.Err.Error()...)
	return string(b)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// CRCError details an ErrBadCRC: the stored and the computed checksum.
type CRCError struct {
	// Stored is the CRC found in the record.
	Stored uint32
	// Computed is the CRC-32 (IEEE) of the record body.
	Computed uint32
}

// Error names both checksums.
func (e *CRCError) Error() string {
	return fmt.Sprintf("%v: stored %08x, computed %08x", ErrBadCRC, e.Stored, e.Computed)
}

// Is makes errors.Is(err, ErrBadCRC) true.
func (e *CRCError) Is(target error) bool { return target == ErrBadCRC }
