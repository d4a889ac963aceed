package fiscosim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bcosdata/bcosdata/libs/app"
)

// EnvPrefix backs every flag with FISCOSIM_<FLAG> (rpc.addr → FISCOSIM_RPC_ADDR).
const EnvPrefix = "FISCOSIM"

// RunCommand runs the simulator as a command: it parses args (flags, FISCOSIM_* environment),
// builds the logger and runs until ctx ends or the requested work is done. It is what
// cmd/fiscosim and `bcosdata sim` call. A -h request returns flag.ErrHelp after printing the
// usage to stderr; flag errors are *app.UsageError. -version prints the version to stdout and
// returns.
func RunCommand(ctx context.Context, name string, args []string, stderr io.Writer) error {
	fs, cfg, logFlags, version := flagSet(name, stderr)
	if err := app.ParseFlags(fs, EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &app.UsageError{Err: err}
	}
	if *version {
		_, err := fmt.Fprintln(os.Stdout, app.VersionString(name))
		return err
	}
	log, err := logFlags.Build()
	if err != nil {
		return &app.UsageError{Err: err}
	}
	defer func() { _ = log.Sync() }()
	sim, err := New(*cfg, log.Named(name))
	if err != nil {
		return err
	}
	return sim.Run(ctx)
}

// FlagSet returns every flag RunCommand accepts; each is also read from FISCOSIM_<FLAG>.
// Deployment checks compare what manifests pass against it.
func FlagSet(name string) *flag.FlagSet {
	fs, _, _, _ := flagSet(name, io.Discard)
	return fs
}

func flagSet(name string, output io.Writer) (*flag.FlagSet, *Config, *app.LogFlags, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	cfg := DefaultConfig()
	cfg.RegisterFlags(fs)
	logFlags := &app.LogFlags{}
	logFlags.Register(fs)
	return fs, &cfg, logFlags, app.RegisterVersionFlag(fs)
}
