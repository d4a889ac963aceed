// Command bcosdata runs any bcosdata service, the fiscosim simulator or an operator tool from one
// binary: `bcosdata <command> [flags]`; `bcosdata -h` lists the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/bcosdata/internal/commands"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := commands.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(app.ExitCode("bcosdata", err, os.Stderr))
}
