package fiscosim

import (
	"errors"
	"fmt"
	"io"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
	"github.com/bcosdata/bcosdata/libs/fisco/block"
)

// dirRecords reads the records of a node's binlog files in order, as the node's recovery
// does: a record cut short at the end of a file (a node killed mid-write) ends that file, and
// a wrong CRC is not fatal (the node's own reader does not check it).
type dirRecords struct {
	files []binlog.FileInfo
	r     *binlog.Reader
}

func (d *dirRecords) Next() (*binlog.Record, error) {
	for {
		if d.r == nil {
			if len(d.files) == 0 {
				return nil, io.EOF
			}
			r, err := binlog.Open(d.files[0].Path, binlog.Options{})
			if err != nil {
				return nil, err
			}
			d.r, d.files = r, d.files[1:]
		}
		rec, err := d.r.Next()
		switch {
		case err == nil, rec != nil && errors.Is(err, binlog.ErrBadCRC):
			return rec, nil
		case errors.Is(err, io.EOF), errors.Is(err, binlog.ErrTruncated):
			d.r.Close()
			d.r = nil
		default:
			return nil, err
		}
	}
}

func (d *dirRecords) close() {
	if d.r != nil {
		d.r.Close()
	}
}

// genesisTimestamp reads the genesis block's timestamp from the first binlog file.
func genesisTimestamp(path string) (uint64, error) {
	r, err := binlog.Open(path, binlog.Options{})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	rec, err := r.Next()
	if rec == nil {
		return 0, fmt.Errorf("read genesis from %s: %w", path, err)
	}
	tb := rec.Table("_sys_hash_2_block_")
	if rec.BlockNumber != 0 || tb == nil || len(tb.New) == 0 {
		return 0, fmt.Errorf("read genesis from %s: first record is block %d: %w", path, rec.BlockNumber, ErrConfig)
	}
	raw, _ := tb.Value(&tb.New[0], "value")
	if len(raw) > 2 && raw[0] == '0' && raw[1] == 'x' {
		var b []byte
		if _, err := fmt.Sscanf(string(raw[2:]), "%x", &b); err != nil {
			return 0, fmt.Errorf("read genesis from %s: %w", path, err)
		}
		raw = b
	}
	blk, err := block.DecodeBlock(raw)
	if err != nil {
		return 0, fmt.Errorf("read genesis from %s: %w", path, err)
	}
	return blk.Header.Timestamp, nil
}
