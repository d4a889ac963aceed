package pglocal

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries means no PostgreSQL server binaries were found. Callers that can do without a
// server (tests on a developer machine) check for it with errors.Is.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin")

// Where distributions install the server binaries without putting them on PATH: Debian and
// Ubuntu, then the PGDG packages for RHEL and Fedora.
const (
	debianBinGlob = "/usr/lib/postgresql/*/bin"
	rhelBinGlob   = "/usr/pgsql-*/bin"
)

// binaries are the PostgreSQL programs pglocal runs. pg_ctl finds the postgres server next to
// its own resolved path.
type binaries struct {
	initdb, pgCtl string
}

// findBinaries looks for initdb and pg_ctl in the directories of pathEnv, then in the
// directories matching globs, preferring the highest version found by the globs.
func findBinaries(pathEnv string, globs ...string) (binaries, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue
		}
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
		// A PATH entry may hold only a symlink to pg_ctl (e.g. /usr/local/bin); its
		// siblings are in the directory it points into.
		if real, err := filepath.EvalSymlinks(filepath.Join(dir, "pg_ctl")); err == nil {
			if b, ok := binariesIn(filepath.Dir(real)); ok {
				return b, nil
			}
		}
	}
	var found []string
	for _, g := range globs {
		matches, _ := filepath.Glob(g) // The patterns are constants; ErrBadPattern cannot happen.
		for _, dir := range matches {
			if _, ok := binariesIn(dir); ok {
				found = append(found, dir)
			}
		}
	}
	if len(found) == 0 {
		return binaries{}, ErrNoBinaries
	}
	best := slices.MaxFunc(found, func(a, b string) int {
		return cmp.Or(slices.Compare(pathVersion(a), pathVersion(b)), strings.Compare(a, b))
	})
	b, _ := binariesIn(best)
	return b, nil
}

func binariesIn(dir string) (binaries, bool) {
	b := binaries{initdb: filepath.Join(dir, "initdb"), pgCtl: filepath.Join(dir, "pg_ctl")}
	return b, executable(b.initdb) && executable(b.pgCtl)
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// pathVersion extracts the numbers in a path so that ".../postgresql/15/bin" sorts above
// ".../postgresql/9.6/bin", which plain string order gets wrong.
func pathVersion(path string) []int {
	var v []int
	for _, d := range regexp.MustCompile(`\d+`).FindAllString(path, -1) {
		n, _ := strconv.Atoi(d)
		v = append(v, n)
	}
	return v
}
