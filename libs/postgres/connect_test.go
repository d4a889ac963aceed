package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bcosdata/bcosdata/libs/postgres"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestConnectSetsPoolOptions(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	for _, tc := range []struct {
		name         string
		opts         []postgres.Option
		wantApp      string
		wantMaxConns int32
	}{
		{"defaults", nil, postgres.DefaultApplicationName, postgres.DefaultMaxConns},
		{"options", []postgres.Option{postgres.WithApplicationName("stash"), postgres.WithMaxConns(3)}, "stash", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := postgres.Connect(t.Context(), dsn, tc.opts...)
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer pool.Close()
			var app string
			if err := pool.QueryRow(t.Context(), "SELECT current_setting('application_name')").Scan(&app); err != nil {
				t.Fatal(err)
			}
			if app != tc.wantApp {
				t.Errorf("application_name = %q, want %q", app, tc.wantApp)
			}
			if got := pool.Config().MaxConns; got != tc.wantMaxConns {
				t.Errorf("MaxConns = %d, want %d", got, tc.wantMaxConns)
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestConnectGivesUpOnClosedPort(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	dsn := fmt.Sprintf("postgres://alice:s3cret@127.0.0.1:%d/ledger?sslmode=disable", port)
	begin := time.Now()
	pool, err := postgres.Connect(t.Context(), dsn, postgres.WithMaxWait(400*time.Millisecond))
	took := time.Since(begin)
	if err == nil {
		pool.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	var cerr *postgres.ConnectError
	if !errors.As(err, &cerr) {
		t.Fatalf("Connect error = %v, want *ConnectError", err)
	}
	if cerr.Attempts < 2 {
		t.Errorf("Connect tried %d times, want retries within the budget", cerr.Attempts)
	}
	if want := fmt.Sprintf("127.0.0.1:%d/ledger", port); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q reveals the password", err)
	}
	if took > 3*time.Second {
		t.Errorf("Connect took %s with a 400ms budget", took)
	}
}

// redirect returns dsn (URL or keyword/value form) with its address and database replaced;
// empty arguments keep them.
func redirect(t *testing.T, dsn, addr, db string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse test server URL: %v", err)
		}
		if addr != "" {
			u.Host = addr
		}
		if db != "" {
			u.Path = "/" + db
		}
		return u.String()
	}
	if addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		dsn += " host=" + host + " port=" + port
	}
	if db != "" {
		dsn += " dbname=" + db
	}
	return dsn
}

func TestConnectStopsAtOnceOnUnknownDatabase(t *testing.T) {
	t.Parallel()
	dsn := redirect(t, pgtest.NewDB(t), "", "no_such_database")
	_, err := postgres.Connect(t.Context(), dsn, postgres.WithMaxWait(time.Minute))
	var cerr *postgres.ConnectError
	if !errors.As(err, &cerr) || cerr.Attempts != 1 {
		t.Fatalf("Connect to a missing database = %v, want a *ConnectError after 1 attempt", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		t.Errorf("Connect error = %v, want SQLSTATE 3D000", err)
	}
}

func TestConnectHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dsn := fmt.Sprintf("postgres://u@127.0.0.1:%d/db", closedPort(t))
	if _, err := postgres.Connect(ctx, dsn, postgres.WithMaxWait(time.Minute)); !errors.Is(err, context.Canceled) {
		t.Errorf("Connect with a cancelled context = %v, want context.Canceled", err)
	}
}

// flakyProxy forwards loopback connections to target but hangs up on the first refuse ones,
// like a database that is still starting.
type flakyProxy struct {
	ln     net.Listener
	target string
	refuse int64
	seen   atomic.Int64
	wg     sync.WaitGroup
}

func startFlakyProxy(t *testing.T, target string, refuse int64) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target, refuse: refuse}
	p.wg.Go(p.serve)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.seen.Add(1) <= p.refuse {
			c.Close()
			continue
		}
		p.wg.Go(func() {
			defer c.Close()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { io.Copy(up, c); up.Close() }()
			io.Copy(c, up)
		})
	}
}

func TestConnectRetriesUntilServerAnswers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse test server DSN: %v", err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		t.Skip("the test server is reached over a unix socket; the proxy speaks TCP")
	}
	proxy := startFlakyProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), 3)
	dsn = redirect(t, dsn, proxy.ln.Addr().String(), "")
	pool, err := postgres.Connect(t.Context(), dsn, postgres.WithMaxWait(time.Minute))
	if err != nil {
		t.Fatalf("Connect through a server that starts late: %v", err)
	}
	defer pool.Close()
	if n := proxy.seen.Load(); n <= 3 {
		t.Errorf("proxy saw %d connections, want more than the 3 it refused", n)
	}
}
