package fiscosim

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/bcosdata/bcosdata/libs/app"
)

// EnvPrefix backs every flag with FISCOSIM_<FLAG> (rpc.addr → FISCOSIM_RPC_ADDR).
const EnvPrefix = "FISCOSIM"

// RunCommand runs the simulator as a command: it parses args (flags, FISCOSIM_* environment),
// builds the logger and runs until ctx ends or the requested work is done. It is what
// cmd/fiscosim and `bcosdata sim` call. A -h request returns flag.ErrHelp after printing the
// usage to stderr; flag errors are *app.UsageError.
func RunCommand(ctx context.Context, name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := DefaultConfig()
	cfg.RegisterFlags(fs)
	var logFlags app.LogFlags
	logFlags.Register(fs)
	if err := app.ParseFlags(fs, EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &app.UsageError{Err: err}
	}
	log, err := logFlags.Build()
	if err != nil {
		return &app.UsageError{Err: err}
	}
	defer func() { _ = log.Sync() }()
	sim, err := New(cfg, log.Named(name))
	if err != nil {
		return err
	}
	return sim.Run(ctx)
}
