package postgres

import (
	"errors"
	"flag"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the database a service uses when none is configured.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/bcosdata?sslmode=disable"

// Flags are the PostgreSQL options every service shares. Register them with a prefix (Loki's
// RegisterFlagsWithPrefix): with prefix "db." they are -db.url and -db.max-conns.
type Flags struct {
	// URL is the server and database, as a URL or keyword/value string.
	URL string
	// MaxConns caps the pool; 0 keeps DefaultMaxConns or the URL's pool_max_conns.
	MaxConns int
}

// RegisterFlagsWithPrefix adds the options to fs, each name prefixed with prefix; schema names
// the service's schema in the help text.
func (f *Flags) RegisterFlagsWithPrefix(prefix string, fs *flag.FlagSet, schema string) {
	fs.StringVar(&f.URL, prefix+"url", DefaultURL, fmt.Sprintf("PostgreSQL URL (the service keeps its tables in schema %s)", schema))
	fs.IntVar(&f.MaxConns, prefix+"max-conns", 0, "largest number of PostgreSQL connections (0: 16, or the URL's pool_max_conns)")
}

// Validate reports unusable values, naming the flag with prefix.
func (f *Flags) Validate(prefix string) error {
	var errs []error
	if f.URL == "" {
		errs = append(errs, fmt.Errorf("-%surl: empty", prefix))
	} else if _, err := pgxpool.ParseConfig(f.URL); err != nil {
		// pgx redacts the password from its parse errors.
		errs = append(errs, fmt.Errorf("-%surl: %w", prefix, err))
	}
	if f.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("-%smax-conns %d: want 0 or more", prefix, f.MaxConns))
	}
	return errors.Join(errs...)
}

// Options returns the Connect and NewPool options the flags describe.
func (f *Flags) Options(applicationName string) []Option {
	opts := []Option{WithApplicationName(applicationName)}
	if f.MaxConns > 0 {
		opts = append(opts, WithMaxConns(int32(min(f.MaxConns, 1<<30))))
	}
	return opts
}
