// Package cli implements the operator tools of the bcosdata binary that work on FISCO BCOS
// node data directly: `bcosdata binlog inspect` and `bcosdata block decode`. Each is a function
// of its arguments and output streams, so the binary's command table can call it and tests can
// run it without a process.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bcosdata/bcosdata/libs/app"
)

// ErrBadRecords is returned (wrapped) when inspect found at least one record that failed its
// CRC, did not decode, or, with --verify, failed verification; the binary exits non-zero.
var ErrBadRecords = errors.New("bad binlog records found")

// parseInterspersed parses flags that may come before or after the positional arguments
// (`inspect FILE --json` as well as `inspect --json FILE`), which flag.FlagSet alone does
// not allow. A parse error becomes an *app.UsageError; -h gives flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &app.UsageError{Err: err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlagSet returns a FlagSet that reports errors instead of exiting and prints a usage
// line, a description and every flag.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		var b strings.Builder
		fmt.Fprintf(&b, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, about)
		_, _ = io.WriteString(stderr, b.String())
		fs.PrintDefaults()
	}
	return fs
}
