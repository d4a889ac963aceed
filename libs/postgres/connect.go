// Package postgres opens PostgreSQL connection pools and applies a service's embedded schema
// migrations. Each bcosdata service owns one schema (stash, export, reconcile) in a shared
// server; this package is the one place that knows how to reach that server patiently at start
// and how to bring a schema to the version the binary expects without two processes racing.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults used by Connect when neither the DSN nor an Option says otherwise.
const (
	// DefaultApplicationName shows up in pg_stat_activity so an operator can tell bcosdata's
	// sessions from others on a shared server.
	DefaultApplicationName = "bcosdata"
	// DefaultMaxWait is how long Connect keeps retrying an unreachable server: long enough to
	// ride out a database container that starts after the service, short enough that a wrong
	// address fails a deployment visibly.
	DefaultMaxWait = 30 * time.Second
	// defaultAttemptTimeout bounds one connection attempt when the DSN sets no connect_timeout,
	// so a silently dropped SYN does not eat the whole retry budget in one attempt.
	defaultAttemptTimeout = 5 * time.Second
)

// Option adjusts how Connect builds its pool.
type Option func(*options)

type options struct {
	applicationName string
	maxConns        int32
	maxWait         time.Duration
}

// WithApplicationName sets the application_name reported to the server, overriding the DSN.
func WithApplicationName(name string) Option {
	return func(o *options) { o.applicationName = name }
}

// DefaultMaxConns is the pool size unless WithMaxConns or the DSN's pool_max_conns says
// otherwise. pgx's own default (the larger of 4 and the CPU count) had a service's API
// requests queue for a connection behind its batch writes on a two-core machine.
const DefaultMaxConns = 16

// WithMaxConns caps the pool size, overriding the DSN's pool_max_conns. Values below 1 are ignored.
func WithMaxConns(n int32) Option {
	return func(o *options) { o.maxConns = n }
}

// WithMaxWait bounds the total time Connect spends retrying an unreachable server.
// Zero or less means a single attempt.
func WithMaxWait(d time.Duration) Option {
	return func(o *options) { o.maxWait = d }
}

// ConnectError reports that Connect gave up reaching the server. It names the server and
// database but never the password.
type ConnectError struct {
	// Target is host:port/database (several hosts are comma separated).
	Target string
	// Attempts is how many times Connect tried.
	Attempts int
	// Elapsed is the time spent trying.
	Elapsed time.Duration
	// Err is the last attempt's error, or the caller's context error.
	Err error
}

// Error implements error.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("connect to postgres %s (%d attempts in %s): %v",
		e.Target, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Err)
}

// Unwrap returns the last attempt's error.
func (e *ConnectError) Unwrap() error { return e.Err }

// Connect returns a pool for dsn (URL or keyword/value form) after one successful ping.
// While the server is unreachable it retries with exponential backoff for up to the
// configured maximum wait (DefaultMaxWait); errors that waiting cannot cure (bad password,
// unknown database) return at once. Failures are reported as *ConnectError.
func Connect(ctx context.Context, dsn string, opts ...Option) (*pgxpool.Pool, error) {
	pool, o, err := newPool(dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := ping(ctx, pool, o.maxWait); err != nil {
		pool.Close()
		err.Target = target(pool.Config())
		return nil, err
	}
	return pool, nil
}

// NewPool returns a pool for dsn without connecting: connections are made when first used, so
// a service can start, report the database as unreachable in its readiness, and recover by
// itself when the server comes. Only an unusable dsn is an error.
func NewPool(dsn string, opts ...Option) (*pgxpool.Pool, error) {
	pool, _, err := newPool(dsn, opts)
	return pool, err
}

func newPool(dsn string, opts []Option) (*pgxpool.Pool, options, error) {
	o := options{maxWait: DefaultMaxWait}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password from its parse errors.
		return nil, o, fmt.Errorf("parse postgres dsn: %w", err)
	}
	switch {
	case o.applicationName != "":
		cfg.ConnConfig.RuntimeParams["application_name"] = o.applicationName
	case cfg.ConnConfig.RuntimeParams["application_name"] == "":
		cfg.ConnConfig.RuntimeParams["application_name"] = DefaultApplicationName
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
		cfg.MinConns = min(cfg.MinConns, o.maxConns)
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultAttemptTimeout
	}
	// pgxpool.NewWithConfig does not connect (MinConns connections are opened in the
	// background), so its context is irrelevant here.
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, o, fmt.Errorf("create pool for postgres %s: %w", target(cfg), err)
	}
	return pool, o, nil
}

// ping retries pool.Ping until it succeeds, fails permanently or maxWait runs out.
func ping(ctx context.Context, pool *pgxpool.Pool, maxWait time.Duration) *ConnectError {
	start := time.Now()
	if maxWait <= 0 {
		if err := pool.Ping(ctx); err != nil {
			return &ConnectError{Attempts: 1, Elapsed: time.Since(start), Err: err}
		}
		return nil
	}
	// The context bounds the total wait exactly; the backoff's own MaxElapsedTime alone
	// could overshoot by one interval.
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second),
		backoff.WithMaxElapsedTime(maxWait),
	)
	var (
		attempts int
		last     error
	)
	op := func() error {
		attempts++
		err := pool.Ping(wctx)
		switch {
		case err == nil:
			return nil
		case wctx.Err() != nil && last != nil:
			// The budget ran out mid-attempt; the previous attempt's error says more
			// about the server than "context deadline exceeded".
			return backoff.Permanent(last)
		case permanent(err):
			last = err
			return backoff.Permanent(err)
		default:
			last = err
			return err
		}
	}
	err := backoff.Retry(op, backoff.WithContext(b, wctx))
	if err == nil {
		return nil
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case last != nil:
		err = last
	}
	return &ConnectError{Attempts: attempts, Elapsed: time.Since(start), Err: err}
}

// permanent reports whether retrying err is pointless: the server answered and refused.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	// Class 28: invalid authorization; 3D000: database does not exist.
	return strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000"
}

// target names the server and database for error messages, without credentials.
func target(cfg *pgxpool.Config) string {
	cc := cfg.ConnConfig
	hosts := []string{hostPort(cc.Host, cc.Port)}
	for _, fb := range cc.Fallbacks {
		if hp := hostPort(fb.Host, fb.Port); hp != hosts[len(hosts)-1] {
			hosts = append(hosts, hp)
		}
	}
	return strings.Join(hosts, ",") + "/" + cc.Database
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		// A unix socket directory: libpq's own notation for it.
		return host + ":" + strconv.Itoa(int(port))
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
