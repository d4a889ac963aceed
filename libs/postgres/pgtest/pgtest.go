// Package pgtest gives tests a real, empty PostgreSQL database of their own.
//
// Each NewDB call creates a uniquely named database and drops it when the test ends, so tests
// can run in parallel against one server. The server is the one named by
// BCOSDATA_TEST_DATABASE_URL if that is set; otherwise pgtest starts one throwaway cluster per
// test binary with pglocal, on a free 127.0.0.1 port, tuned for speed rather than durability,
// and stops it when the binary exits, even if it is killed (call Main from TestMain to stop it
// before exit). Without a server or PostgreSQL binaries, tests are skipped, or fail when
// CI=true.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/postgres/pglocal"
)

// EnvDatabaseURL names the environment variable holding the URL (or keyword/value DSN) of a
// server to create test databases on, as a user allowed to CREATE DATABASE.
const EnvDatabaseURL = "BCOSDATA_TEST_DATABASE_URL"

// EnvSharedBuffers sets shared_buffers of the cluster pgtest starts (e.g. 1GB; default 32MB).
// make bench sets it: a benchmark's figures should come from a server sized like a small
// production one, while tests keep many small clusters side by side.
const EnvSharedBuffers = "BCOSDATA_TEST_PG_SHARED_BUFFERS"

// shared is the server of this test binary. It has to be package state: TestMain and the tests
// share nothing else, and starting a cluster per test would cost seconds each.
var shared server

// Main runs the tests and then stops the cluster pgtest started, if any. Use it as
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := shared.close(); err != nil {
		// The binary is about to exit; stderr is the only place left to say so.
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	os.Exit(code)
}

// NewDB creates an empty database for tb, dropped in tb.Cleanup, and returns its connection
// string.
func NewDB(tb testing.TB) string {
	tb.Helper()
	return shared.newDB(tb)
}

// NewPool creates an empty database for tb and returns a pool connected to it; the pool is
// closed and the database dropped in tb.Cleanup.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dsn := shared.newDB(tb)
	pool, err := pgxpool.New(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("open pool for test database: %v", err)
	}
	tb.Cleanup(pool.Close) // Runs before the drop registered by newDB: cleanups are LIFO.
	return pool
}

// server is a PostgreSQL server that test databases are created on.
type server struct {
	once sync.Once
	// url is the admin connection string; empty until start, or preset to use that server.
	url     string
	cluster *pglocal.Cluster
	admin   *pgxpool.Pool
	version int // server_version_num
	took    time.Duration
	logged  bool
	err     error
	mu      sync.Mutex
}

// start connects to the configured server or starts a local cluster, once.
func (s *server) start() {
	s.once.Do(func() {
		begin := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if s.url == "" {
			s.url = os.Getenv(EnvDatabaseURL)
		}
		if s.url == "" {
			c, err := pglocal.Start(ctx, pglocal.Options{Fast: true, SharedBuffers: os.Getenv(EnvSharedBuffers)})
			if err != nil {
				s.err = err
				return
			}
			s.cluster = c
			s.url = c.URL("postgres")
		}
		cfg, err := pgxpool.ParseConfig(s.url)
		if err != nil {
			s.err = fmt.Errorf("parse %s: %w", EnvDatabaseURL, err)
			return
		}
		cfg.MaxConns = 4
		cfg.ConnConfig.RuntimeParams["application_name"] = "pgtest"
		s.admin, err = pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = s.admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&s.version)
		}
		if err != nil {
			s.err = fmt.Errorf("connect to test server %s:%d/%s: %w",
				cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
			return
		}
		s.took = time.Since(begin)
	})
}

func (s *server) newDB(tb testing.TB) string {
	tb.Helper()
	s.start()
	if s.err != nil {
		if errors.Is(s.err, pglocal.ErrNoBinaries) {
			ci, _ := strconv.ParseBool(os.Getenv("CI"))
			unavailable(tb, s.err, ci)
			return ""
		}
		tb.Fatalf("pgtest: %v", s.err)
		return ""
	}
	s.mu.Lock()
	if !s.logged && s.cluster != nil {
		s.logged = true
		tb.Logf("pgtest: started PostgreSQL %d at %s in %s", s.version, s.cluster.Addr(), s.took.Round(time.Millisecond))
	}
	s.mu.Unlock()

	name := dbName(tb.Name())
	// The default strategy (WAL_LOG on PostgreSQL 15) measured faster than FILE_COPY here,
	// whose checkpoints would also serialise parallel tests.
	if _, err := s.admin.Exec(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// tb.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		drop := "DROP DATABASE IF EXISTS " + name
		if s.version >= 130000 {
			// A test that leaked a connection must not make the drop fail.
			drop += " WITH (FORCE)"
		}
		if _, err := s.admin.Exec(ctx, drop); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(s.url, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// close releases the admin pool and stops the cluster, if one was started.
func (s *server) close() error {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cluster != nil {
		return s.cluster.Stop()
	}
	return nil
}

// unavailable skips tb, or fails it under CI where a missing server is a broken setup rather
// than a developer machine without PostgreSQL.
func unavailable(tb testing.TB, err error, ci bool) {
	tb.Helper()
	if ci {
		tb.Fatalf("pgtest: %v; CI=true requires PostgreSQL: install it or set %s", err, EnvDatabaseURL)
		return
	}
	tb.Skipf("pgtest: %v; install PostgreSQL or set %s to run this test", err, EnvDatabaseURL)
}

// dbName returns a unique database name that still hints at the test that owns it, which
// helps when a killed run leaves databases behind on a shared server.
func dbName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 32 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var suffix [6]byte
	rand.Read(suffix[:]) // Never fails since Go 1.24.
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String()
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if urlErr, ok := errors.AsType[*url.Error](err); ok {
			// url.Error quotes the whole URL, password included.
			return "", fmt.Errorf("parse %s as a URL: %w", EnvDatabaseURL, urlErr.Err)
		} else if err != nil {
			return "", fmt.Errorf("parse %s as a URL: %w", EnvDatabaseURL, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form a repeated keyword overrides the earlier one.
	return dsn + " dbname=" + name, nil
}

// SkipIfShort skips a slow test that needs the database when tests run with -short, except in
// CI (CI=true), where every test that needs PostgreSQL or Kafka runs.
func SkipIfShort(tb testing.TB) {
	tb.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); testing.Short() && !ci {
		tb.Skip("slow: skipped under -short (CI runs it)")
	}
}
