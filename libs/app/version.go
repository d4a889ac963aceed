package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Version is the release this binary was built from. The Makefile sets it from
// `git describe --always --dirty` with
//
//	-ldflags "-X github.com/bcosdata/bcosdata/libs/app.Version=<version>"
//
// A plain `go build` leaves it empty, and VersionString falls back on the module version the
// Go toolchain recorded.
var Version string

// VersionString describes the running binary on one line: its name, version, the Go release
// it was built with, its platform and, when the toolchain recorded them, the VCS revision and
// whether the tree was modified.
func VersionString(name string) string {
	v := Version
	var extra []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				extra = append(extra, "revision "+s.Value)
			case "vcs.modified":
				if s.Value == "true" {
					extra = append(extra, "modified")
				}
			}
		}
	}
	if v == "" {
		v = "(unknown)"
	}
	s := fmt.Sprintf("%s %s %s %s/%s", name, v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// RegisterVersionFlag adds -version, which asks a binary to print VersionString and exit.
func RegisterVersionFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("version", false, "print the version and build information, then exit")
}

// HealthcheckTimeout bounds one -healthcheck request.
const HealthcheckTimeout = 5 * time.Second

// Healthcheck asks the admin server at adminAddr (a listen address such as ":9201" or
// "0.0.0.0:9201"; an unspecified host means this machine) whether the service is ready: nil when
// /readyz answers 200, otherwise an error carrying the status and the failing checks. It is what
// -healthcheck runs, so a container healthcheck needs no curl in the image. Its errors are never
// usage errors: Docker reserves exit code 2, and a healthcheck answers 0 or 1 only.
func Healthcheck(ctx context.Context, adminAddr string) error {
	if adminAddr == "" {
		return errors.New("healthcheck: needs -admin.addr, the server whose /readyz it asks")
	}
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: -admin.addr %q: %w", adminAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, HealthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
