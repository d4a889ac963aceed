// Command fiscosim runs a simulated FISCO BCOS 2.x node: JSON-RPC, sealed blocks, binlog files
// and their HTTP listing. `fiscosim -h` lists every flag and its FISCOSIM_* variable.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := fiscosim.RunCommand(ctx, "fiscosim", os.Args[1:], os.Stderr)
	stop()
	os.Exit(app.ExitCode("fiscosim", err, os.Stderr))
}
