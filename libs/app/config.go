package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// EnvName returns the environment variable that backs a flag: the prefix and the flag name
// upper-cased with '.' and '-' turned into '_' (prefix STASH, flag kafka.brokers →
// STASH_KAFKA_BROKERS).
func EnvName(prefix, flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return strings.ToUpper(prefix) + "_" + strings.ToUpper(r.Replace(flagName))
}

// ParseFlags parses args into fs. Every flag not given on the command line takes its value from
// the environment variable EnvName(envPrefix, name) when that is set, so flags always win over
// the environment and the environment wins over defaults. The usage text lists each flag with
// its environment variable.
func ParseFlags(fs *flag.FlagSet, envPrefix string, args []string) error {
	setUsage(fs, envPrefix)
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(envPrefix, f.Name)
		v, ok := os.LookupEnv(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %w", env, v, err))
		}
	})
	return errors.Join(errs...)
}

func setUsage(fs *flag.FlagSet, envPrefix string) {
	fs.Usage = func() {
		out := fs.Output()
		name := fs.Name()
		if name == "" {
			name = os.Args[0]
		}
		fmt.Fprintf(out, "Usage of %s:\n", name)
		PrintDefaults(out, fs, envPrefix)
	}
}

// PrintDefaults writes one entry per flag: name, default, help, and the environment variable.
func PrintDefaults(w io.Writer, fs *flag.FlagSet, envPrefix string) {
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		typ, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			if typ == "string" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
		}
		if envPrefix != "" {
			fmt.Fprintf(w, " [$%s]", EnvName(envPrefix, f.Name))
		}
		fmt.Fprintln(w)
	}
}

// StringList is a repeatable string flag; a comma-separated value adds several items.
type StringList []string

// String implements flag.Value.
func (s *StringList) String() string { return strings.Join(*s, ",") }

// Set implements flag.Value.
func (s *StringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}
