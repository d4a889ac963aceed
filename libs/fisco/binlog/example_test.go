package binlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/bcosdata/bcosdata/libs/fisco/binlog"
)

// A follower reads a growing file: io.EOF and ErrTruncated mean "not yet", and Next resumes
// where it stopped once more bytes are there. Offset is what to persist to resume after a
// restart with OpenAt.
func Example() {
	var file bytes.Buffer
	w, _ := binlog.NewWriter(&file)
	for n := range uint64(2) {
		_ = w.WriteRecord(&binlog.Record{BlockNumber: n, Tables: []binlog.Table{{
			Name:   "_sys_current_state_",
			Fields: []string{"key", "value", binlog.FieldStatus, binlog.FieldNum, binlog.FieldID},
			Dirty: []binlog.Entry{binlog.NewEntry(100009, binlog.StatusNormal, []binlog.Value{
				{Data: []byte("current_number"), Set: true}, {Data: fmt.Appendf(nil, "%d", n), Set: true}})},
		}}})
	}

	r := binlog.NewReader(&file, binlog.Options{Name: "0.binlog"})
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, binlog.ErrTruncated) {
			break // a follower would wait for the file to grow, then call Next again
		}
		if err != nil {
			fmt.Println(err)
			break
		}
		tb := rec.Table("_sys_current_state_")
		v, _ := tb.Value(&tb.Dirty[0], "value")
		fmt.Printf("block %d at offset %d: current_number=%s, resume at %d\n", rec.BlockNumber, rec.Offset, v, r.Offset())
	}
	// Output:
	// block 0 at offset 4: current_number=0, resume at 118
	// block 1 at offset 118: current_number=1, resume at 232
}
