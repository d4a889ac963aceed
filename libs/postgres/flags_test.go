package postgres

import (
	"context"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestFlagsWithPrefix(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.RegisterFlagsWithPrefix("db.", fs, "export")
	if f.URL != DefaultURL {
		t.Fatalf("default URL %q", f.URL)
	}
	if !strings.Contains(fs.Lookup("db.url").Usage, "schema export") {
		t.Fatalf("help does not name the schema: %q", fs.Lookup("db.url").Usage)
	}
	if err := fs.Parse([]string{"-db.url", "postgres://u:secret@h:1/d", "-db.max-conns", "7"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate("db."); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    Flags
		want string
	}{
		{Flags{}, "-db.url: empty"},
		{Flags{URL: "postgres://u:secret@h:notaport/d"}, "-db.url: "},
		{Flags{URL: DefaultURL, MaxConns: -2}, "-db.max-conns -2"},
	} {
		err := c.f.Validate("db.")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.f, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Validate leaks the password: %v", err)
		}
	}
}

// TestNewPoolDoesNotConnect: a service must be able to start while its database is away and
// report that as a readiness state, so NewPool succeeds with nothing listening and the first
// use fails quickly with the connection error.
func TestNewPoolDoesNotConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	f := Flags{URL: "postgres://postgres@" + addr + "/bcosdata?sslmode=disable&connect_timeout=2", MaxConns: 3}
	pool, err := NewPool(f.URL, f.Options("bcosdata-test")...)
	if err != nil {
		t.Fatalf("NewPool with no server: %v", err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3 from -db.max-conns", got)
	}
	if got := pool.Config().ConnConfig.RuntimeParams["application_name"]; got != "bcosdata-test" {
		t.Errorf("application_name = %q", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Ping with no server = %v, want a connection error", err)
	}
}
