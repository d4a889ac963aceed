// Package commands is the subcommand table of the all-in-one bcosdata binary: every service,
// the simulator, and the operator tools, each reachable as `bcosdata <name> [args]`.
package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/demo"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/reconcile"
	"github.com/bcosdata/bcosdata/services/stash"
)

// Func runs one subcommand with its arguments.
type Func func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Command is one entry of the table.
type Command struct {
	Name    string
	Summary string
	Run     Func
}

// Table returns every subcommand, sorted by name.
func Table() []Command {
	cmds := []Command{
		{"stash", "run the stash service (binlog/RPC ingestion, verification, backup, Kafka)", service(stash.Command)},
		{"export", "run the export service (ABI decoding into PostgreSQL, gRPC queries); `export dashboards -contracts FILE -out DIR` writes Grafana provisioning", exportCommand},
		{"reconcile", "run the reconcile service (business files vs chain records)", service(reconcile.Command)},
		{"demo", "run the whole pipeline locally on embedded defaults (PostgreSQL, Kafka, fiscosim; stash, export and reconcile on one gRPC server)", demo.Run},
		{"sim", "run fiscosim, the FISCO BCOS 2.x node simulator (JSON-RPC, blocks, binlog files)", sim},
	}
	cmds = append(cmds, tools()...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

func service(mk func() app.Command) Func {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c := mk()
		c.Stdout = stdout
		return c.Run(ctx, args, stderr)
	}
}

// exportCommand runs the export service, or its `dashboards` generator.
func exportCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "dashboards" {
		return export.Dashboards(ctx, args[1:], stdout, stderr)
	}
	return service(export.Command)(ctx, args, stdout, stderr)
}

func sim(ctx context.Context, args []string, _, stderr io.Writer) error {
	return fiscosim.RunCommand(ctx, "bcosdata sim", args, stderr)
}

// Run dispatches args[0] to its subcommand; with no argument, -h or help it prints the table.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	table := Table()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		Usage(stderr, table)
		if len(args) == 0 {
			return &app.UsageError{Err: errors.New("no command given")}
		}
		return flag.ErrHelp
	}
	if args[0] == "-version" || args[0] == "--version" || args[0] == "version" {
		_, err := fmt.Fprintln(stdout, app.VersionString("bcosdata"))
		return err
	}
	for _, c := range table {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:], stdout, stderr)
		}
	}
	Usage(stderr, table)
	return &app.UsageError{Err: fmt.Errorf("unknown command %q", args[0])}
}

// Usage prints the command table.
func Usage(w io.Writer, table []Command) {
	var b strings.Builder
	b.WriteString("bcosdata: FISCO BCOS 2.x data governance — every service and tool in one binary.\n\n")
	b.WriteString("Usage: bcosdata <command> [flags]   (bcosdata <command> -h lists the flags; bcosdata -version)\n\nCommands:\n")
	for _, c := range table {
		fmt.Fprintf(&b, "  %-16s %s\n", c.Name, c.Summary)
	}
	_, _ = io.WriteString(w, b.String())
}
