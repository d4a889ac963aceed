package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bcosdata/bcosdata/libs/postgres"
)

// Command describes a service process: its flags and how to build the service once they are
// parsed. The same Command runs as its own binary (Main) or as a subcommand of bcosdata (Run).
type Command struct {
	// Name is the binary or subcommand name.
	Name string
	// EnvPrefix backs every flag with <EnvPrefix>_<FLAG>.
	EnvPrefix string
	// Flags registers the service's own flags.
	Flags func(*flag.FlagSet)
	// Server and Log receive the shared server and logging flags; the service's Config usually
	// embeds them, and Flags registers them.
	Server *ServerConfig
	Log    *LogFlags
	// DB, when set, are the service's PostgreSQL flags: Run makes the pool (without
	// connecting) and hands it to New in Deps, and closes it after the service stopped.
	DB *postgres.Flags
	// HealthName is the gRPC health service name.
	HealthName string
	// New builds the service after flags are parsed. deps carries the logger, the server's
	// metrics registry and the pool; srv takes readiness checks.
	New func(deps Deps, srv *Server) (Service, error)
	// Stdout receives -version's output; nil means os.Stdout.
	Stdout io.Writer
}

// FlagSet returns every flag the command accepts: the service's own, -version and
// -healthcheck. Each is also read from the environment variable EnvName(EnvPrefix, name).
// Deployment checks compare what manifests pass against it.
func (c Command) FlagSet() *flag.FlagSet {
	fs, _, _ := c.flagSet(io.Discard)
	return fs
}

func (c Command) flagSet(output io.Writer) (fs *flag.FlagSet, version, healthcheck *bool) {
	fs = flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(output)
	c.Flags(fs)
	version = RegisterVersionFlag(fs)
	healthcheck = fs.Bool("healthcheck", false, "ask this service's admin server (-admin.addr) for /readyz and exit 0 when it is ready, 1 when not: a container healthcheck without curl")
	return fs, version, healthcheck
}

// Run parses args, builds the logger, server and service, and serves until ctx is done.
// A -h request returns flag.ErrHelp after printing the usage to stderr. -version prints the
// version and returns; -healthcheck asks the admin server at -admin.addr whether the service is
// ready and returns nil only if it is.
func (c Command) Run(ctx context.Context, args []string, stderr io.Writer) error {
	fs, version, healthcheck := c.flagSet(stderr)
	if err := ParseFlags(fs, c.EnvPrefix, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Err: err}
	}
	if *version {
		out := c.Stdout
		if out == nil {
			out = os.Stdout
		}
		_, err := fmt.Fprintln(out, VersionString(c.Name))
		return err
	}
	if *healthcheck {
		return Healthcheck(ctx, c.Server.AdminAddr)
	}
	if err := c.Server.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	log, err := c.Log.Build()
	if err != nil {
		return &UsageError{Err: err}
	}
	defer func() { _ = log.Sync() }()
	c.Server.Name = c.HealthName
	srv := NewServer(*c.Server, log.Named(c.Name))
	deps := Deps{Log: log.Named(c.Name), Metrics: srv.Registry(), Audit: srv.Audit()}
	if c.DB != nil {
		pool, err := postgres.NewPool(c.DB.URL, c.DB.Options("bcosdata-"+c.Name)...)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("-db.url: %w", err)}
		}
		// Closed only after Serve returned, that is after the RPCs drained and Run stopped.
		defer pool.Close()
		deps.Pool = pool
	}
	svc, err := c.New(deps, srv)
	if err != nil {
		return err
	}
	if c.Server.HTTPAddr != "" {
		hs, ok := svc.(HTTPService)
		if !ok {
			return &UsageError{Err: fmt.Errorf("-http.addr %s: %s has no HTTP API", c.Server.HTTPAddr, c.Name)}
		}
		srv.AddHTTP(c.Server.HTTPAddr, hs.HTTPAPI())
	}
	return Serve(ctx, srv, svc)
}

// Main runs c as a process: it stops on SIGINT/SIGTERM and exits non-zero on failure
// (2 for usage errors).
func Main(c Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := c.Run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(ExitCode(c.Name, err, os.Stderr))
}

// ExitCode reports err on w as "name: err" and returns the process exit code for it: 0 for
// success or -h, 2 for usage errors, 1 otherwise. An error that already starts with "name: "
// is printed as it is, not as "name: name: ...".
func ExitCode(name string, err error, w io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, context.Canceled):
		return 0
	}
	fmt.Fprintln(w, prefixOnce(name, err))
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// prefixOnce returns "name: err", or err's text alone when it already starts with "name: ".
func prefixOnce(name string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, name+": ") {
		return msg
	}
	return name + ": " + msg
}

// UsageError marks an error in how a command was called.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }
