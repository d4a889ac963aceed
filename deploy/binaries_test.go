package deploy

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/export"
	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/reconcile"
	"github.com/bcosdata/bcosdata/services/stash"
)

// binary is one program a deployment file runs, with the flags it really accepts.
type binary struct {
	name      string
	envPrefix string
	// flags builds a fresh flag set, the one the binary's main parses.
	flags func() *flag.FlagSet
	// command is the service's app.Command, for the binaries built on one (not fiscosim).
	command func() app.Command
}

// binaries are the images deploy/docker/Dockerfile builds, by target and entrypoint name.
var binaries = map[string]binary{
	"stash":     {"stash", stash.EnvPrefix, func() *flag.FlagSet { return stash.Command().FlagSet() }, stash.Command},
	"export":    {"export", export.EnvPrefix, func() *flag.FlagSet { return export.Command().FlagSet() }, export.Command},
	"reconcile": {"reconcile", reconcile.EnvPrefix, func() *flag.FlagSet { return reconcile.Command().FlagSet() }, reconcile.Command},
	"fiscosim":  {"fiscosim", fiscosim.EnvPrefix, func() *flag.FlagSet { return fiscosim.FlagSet("fiscosim") }, nil},
}

// binaryForEnv returns the binary whose environment prefix env carries, if any.
func binaryForEnv(env string) (binary, bool) {
	for _, b := range binaries {
		if strings.HasPrefix(env, b.envPrefix+"_") {
			return b, true
		}
	}
	return binary{}, false
}

// flagForEnv returns the flag that reads env, or "".
func (b binary) flagForEnv(env string) string {
	name := ""
	b.flags().VisitAll(func(f *flag.Flag) {
		if app.EnvName(b.envPrefix, f.Name) == env {
			name = f.Name
		}
	})
	return name
}

// goRuntimeEnv are the variables every binary's Go runtime reads itself.
var goRuntimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GOMAXPROCS": true}

// checkEnv reports whether b accepts the environment variable env=value: a variable of another
// prefix is ignored by b (and so is a mistake), an unknown one is ignored too (and so is a
// mistake), and the value must parse as the flag's type. A value compose or Kubernetes fills
// in at run time (valueFrom) is passed as "".
func (b binary) checkEnv(env, value string) error {
	if goRuntimeEnv[env] {
		return nil
	}
	if !strings.HasPrefix(env, b.envPrefix+"_") {
		return fmt.Errorf("%s: %s reads only %s_* variables", env, b.name, b.envPrefix)
	}
	name := b.flagForEnv(env)
	if name == "" {
		return fmt.Errorf("%s: %s has no flag read from it (%s)", env, b.name, b.known())
	}
	if value == "" {
		return nil
	}
	if err := b.flags().Set(name, value); err != nil {
		return fmt.Errorf("%s=%q: -%s of %s rejects it: %w", env, value, name, b.name, err)
	}
	return nil
}

// checkArgs reports whether b parses args.
func (b binary) checkArgs(args []string) error {
	fs := b.flags()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s %s: %w", b.name, strings.Join(args, " "), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s %s: unexpected arguments %q", b.name, strings.Join(args, " "), fs.Args())
	}
	return nil
}

// checkServer reports whether the server configuration the environment gives b is one the
// binary starts with: among others, that a non-loopback gRPC or HTTP address comes with TLS
// and auth, or with -insecure.
func (b binary) checkServer(env map[string]string) error {
	if b.command == nil {
		return nil
	}
	cmd := b.command()
	fs := cmd.FlagSet()
	for k, v := range env {
		if name := b.flagForEnv(k); name != "" && v != "" {
			if err := fs.Set(name, v); err != nil {
				return err // reported by checkEnv too
			}
		}
	}
	if err := cmd.Server.Validate(); err != nil {
		return fmt.Errorf("%s would refuse to start: %w", b.name, err)
	}
	return nil
}

func (b binary) known() string {
	var names []string
	b.flags().VisitAll(func(f *flag.Flag) { names = append(names, app.EnvName(b.envPrefix, f.Name)) })
	sort.Strings(names)
	return "known: " + strings.Join(names, ", ")
}

// TestFlagChecksCatchMistakes feeds the checks wrong flags and variables, so a check that
// passes everything cannot go unnoticed.
func TestFlagChecksCatchMistakes(t *testing.T) {
	st := binaries["stash"]
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"unknown variable", st.checkEnv("STASH_SOURCES", "http://node:8546/")},
		{"another service's variable", st.checkEnv("EXPORT_DB_URL", "postgres://x")},
		{"value of the wrong type", st.checkEnv("STASH_PARTITIONS", "three")},
		{"unknown flag", st.checkArgs([]string{"-kafka.broker", "kafka:9092"})},
		{"stray argument", st.checkArgs([]string{"-healthcheck", "now"})},
		{"exposed without TLS and auth", st.checkServer(map[string]string{"STASH_GRPC_ADDR": "0.0.0.0:9101"})},
		{"JWKS without issuer", st.checkServer(map[string]string{"STASH_AUTH_POLICY": "p.yaml", "STASH_AUTH_JWKS": "k.json"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("accepted")
			}
		})
	}
	for _, err := range []error{
		st.checkEnv("STASH_KAFKA_BROKERS", "kafka:9092"),
		st.checkEnv("STASH_HEALTHCHECK", ""),
		st.checkArgs([]string{"-healthcheck"}),
		binaries["fiscosim"].checkEnv("FISCOSIM_TPS", "20"),
		st.checkServer(map[string]string{"STASH_GRPC_ADDR": "0.0.0.0:9101", "STASH_INSECURE": "true"}),
		st.checkServer(map[string]string{"STASH_GRPC_ADDR": "0.0.0.0:9101", "STASH_TLS_CERT": "c", "STASH_TLS_KEY": "k", "STASH_AUTH_POLICY": "p"}),
	} {
		if err != nil {
			t.Errorf("rejected a good one: %v", err)
		}
	}
	// The compose check itself, on a compose file with one wrong variable.
	if errs := checkComposeFile(t, []byte(badCompose)); !containsErr(errs, "STASH_KAFKA_BROKER") {
		t.Fatalf("compose check on a wrong variable: %v", errs)
	}
}

const badCompose = `
services:
  stash:
    build: {context: ., dockerfile: deploy/docker/Dockerfile, target: stash}
    environment:
      STASH_KAFKA_BROKER: kafka:9092
`

func containsErr(errs []error, sub string) bool {
	err := errors.Join(errs...)
	return err != nil && strings.Contains(err.Error(), sub)
}
