package commands

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/cli"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/evidencecmd"
)

// tools lists the operator tools.
func tools() []Command {
	return []Command{
		{"binlog", "binlog tools: `binlog inspect [--json] [--verify] FILE|DIR`", group("binlog", map[string]Func{"inspect": cli.BinlogInspect})},
		{"block", "block tools: `block decode HEX|@FILE`", group("block", map[string]Func{"decode": cli.BlockDecode})},
		{"evidence", "evidence tools: `evidence verify -rpc URL PROOF.json`, `evidence keygen`, `evidence sign -key FILE RECORD.json`", group("evidence", map[string]Func{
			"verify": evidencecmd.Verify, "keygen": evidencecmd.Keygen, "sign": evidencecmd.Sign,
		})},
	}
}

// group dispatches `<name> <sub> [args]` to a tool's subcommands.
func group(name string, subs map[string]Func) Func {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if len(args) == 0 {
			return &app.UsageError{Err: fmt.Errorf("%s: missing subcommand (%s)", name, keys(subs))}
		}
		f, ok := subs[args[0]]
		if !ok {
			return &app.UsageError{Err: fmt.Errorf("%s: unknown subcommand %q (want %s)", name, args[0], keys(subs))}
		}
		return f(ctx, args[1:], stdout, stderr)
	}
}

func keys(m map[string]Func) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
