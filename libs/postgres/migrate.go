package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

var (
	// ErrInvalidSchema means a schema name is not a plain lowercase SQL identifier.
	ErrInvalidSchema = errors.New("invalid schema name")
	// ErrNoMigrations means the migrations file system holds no NNN_name.sql files.
	ErrNoMigrations = errors.New("no migrations found")
	// ErrSchemaTooNew means the database is at a version this binary has no migration for,
	// typically an older binary started after a newer one migrated the schema.
	ErrSchemaTooNew = errors.New("schema is newer than this binary")
)

// VersionTable is the name of the table, inside each service's schema, that records the
// schema's migration version.
const VersionTable = "schema_version"

// MigrationError reports a migration file that could not be read or applied.
type MigrationError struct {
	// Schema is the schema being migrated.
	Schema string
	// File is the migration's file name, e.g. "002_add_index.sql".
	File string
	// Err is the cause, usually a *pgconn.PgError.
	Err error
}

// Error implements error.
func (e *MigrationError) Error() string {
	return fmt.Sprintf("apply migration %s to schema %s: %v", e.File, e.Schema, e.Err)
}

// Unwrap returns the cause.
func (e *MigrationError) Unwrap() error { return e.Err }

// schemaPattern keeps schema names to identifiers that need no quoting, so the name can be
// spliced into SQL and into tern's version-table name safely.
var schemaPattern = regexp.MustCompile(`\A[a-z_][a-z0-9_]{0,62}\z`)

// tern's marker between the forward and the backward part of a migration file.
const downMarker = "---- create above / drop below ----"

// Migrate brings schema up to the newest migration in migrations, creating the schema if it is
// missing, and records progress in <schema>.schema_version.
//
// Migration files sit at the root of migrations (use fs.Sub for an embedded directory), are
// named NNN_description.sql and numbered from 1 without gaps; each runs in its own transaction
// unless it contains the line "---- tern: disable-tx ----". Files are plain SQL (no templating).
// Migrations run with search_path set to the schema alone, so unqualified names land in it.
//
// Migrate holds a PostgreSQL advisory lock keyed on the schema for its whole run, so any
// number of processes starting together apply each migration exactly once; the others wait
// and then find nothing to do. A failing migration returns a *MigrationError naming the file;
// the migrations before it stay applied and the failing one, unless it disabled its
// transaction, leaves no trace.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string, migrations fs.FS) error {
	return migrateTable(ctx, pool, schema, VersionTable, migrations)
}

// MigrateComponent is Migrate for a library's own tables inside a service's schema (the audit
// trail's, for one): the component's migrations are numbered on their own and recorded in
// <schema>.<component>_schema_version, so neither numbering depends on the other. It takes
// the same advisory lock as Migrate.
func MigrateComponent(ctx context.Context, pool *pgxpool.Pool, schema, component string, migrations fs.FS) error {
	if !schemaPattern.MatchString(component) {
		return fmt.Errorf("migrate component %q of schema %s: %w", component, schema, ErrInvalidSchema)
	}
	return migrateTable(ctx, pool, schema, component+"_"+VersionTable, migrations)
}

func migrateTable(ctx context.Context, pool *pgxpool.Pool, schema, versionTable string, migrations fs.FS) error {
	if !schemaPattern.MatchString(schema) {
		return fmt.Errorf("migrate schema %q: %w", schema, ErrInvalidSchema)
	}
	files, err := loadMigrations(migrations, schema)
	if err != nil {
		return err
	}

	// A dedicated session rather than a pooled one: the search_path given at connection
	// start survives the RESET ALL tern issues after each migration, and the pool keeps all
	// its connections for the service.
	cfg := pool.Config().ConnConfig
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to migrate schema %s: %w", schema, err)
	}
	// Ending the session also releases the advisory lock, whatever happened before.
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey(schema)); err != nil {
		return fmt.Errorf("lock schema %s for migration: %w", schema, err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	m, err := migrate.NewMigrator(ctx, conn, schema+"."+versionTable)
	if err != nil {
		return fmt.Errorf("prepare version table %s.%s: %w", schema, versionTable, err)
	}
	for _, f := range files {
		m.AppendMigration(f.name, f.up, f.down)
	}
	current, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return fmt.Errorf("read version of schema %s: %w", schema, err)
	}
	if int(current) > len(files) {
		return fmt.Errorf("migrate schema %s: at version %d but only %d migrations known: %w",
			schema, current, len(files), ErrSchemaTooNew)
	}
	var running string
	m.OnStart = func(_ int32, name, _, _ string) { running = name }
	if err := m.Migrate(ctx); err != nil {
		// tern's MigrationPgError repeats the file name; keep only the server's error.
		if pgErr, ok := errors.AsType[migrate.MigrationPgError](err); ok {
			err = pgErr.PgError
		}
		if running == "" {
			return fmt.Errorf("migrate schema %s: %w", schema, err)
		}
		return &MigrationError{Schema: schema, File: running, Err: err}
	}
	return nil
}

type migrationFile struct {
	name, up, down string
}

// loadMigrations reads the NNN_name.sql files at the root of fsys in version order.
func loadMigrations(fsys fs.FS, schema string) ([]migrationFile, error) {
	names, err := migrate.FindMigrations(fsys)
	if err != nil {
		return nil, fmt.Errorf("list migrations for schema %s: %w", schema, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("migrate schema %s: %w", schema, ErrNoMigrations)
	}
	files := make([]migrationFile, 0, len(names))
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, &MigrationError{Schema: schema, File: name, Err: err}
		}
		up, down, _ := strings.Cut(string(body), downMarker)
		up = strings.TrimSpace(up)
		if !hasSQL(up) {
			return nil, &MigrationError{Schema: schema, File: name, Err: migrate.ErrNoFwMigration}
		}
		files = append(files, migrationFile{name: name, up: up, down: strings.TrimSpace(down)})
	}
	return files, nil
}

// hasSQL reports whether sql has a line that is neither blank nor a "--" comment; tern would
// otherwise record an empty migration as applied.
func hasSQL(sql string) bool {
	for line := range strings.Lines(sql) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "--") {
			return true
		}
	}
	return false
}

// lockKey maps a schema to its advisory-lock key. The prefix keeps bcosdata's keys apart from
// any other application's advisory locks on a shared server.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("bcosdata.migrate." + schema))
	return int64(h.Sum64())
}
