package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrReaderRole reports a -db.reader-role export may not create or grant to.
var ErrReaderRole = errors.New("cannot set up the reader role")

// GrantReader gives role read-only access to the export schema and to the other schemas
// export writes (the -compat views' schema): USAGE on each schema, SELECT on every table
// and view in it, and default privileges so that SELECT on the tables and views export
// creates later (typed tables of new contracts, partitions, rebuilt views) is granted as
// they are created. The role is created NOLOGIN when missing: operators grant it to login
// roles (GRANT <role> TO analyst). Nothing else is granted, so the role cannot write.
//
// Every statement is idempotent; it runs in one writing transaction so that several
// instances starting together do not race on CREATE ROLE. Default privileges apply to the
// objects the current role creates, so export must keep running as the role that ran this.
// Schemas that do not exist are left out.
func (s *Store) GrantReader(ctx context.Context, role string, schemas ...string) error {
	if role == "" {
		return nil
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("look up reader role %s: %w", role, err)
	}
	qr := pgx.Identifier{role}.Sanitize()
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE ROLE `+qr+` NOLOGIN`); err != nil {
			return fmt.Errorf("create reader role %s: %w", role, privilegeError(err))
		}
	}
	for _, schema := range append([]string{Schema}, schemas...) {
		var present bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&present); err != nil {
			return fmt.Errorf("look up schema %s: %w", schema, err)
		}
		if !present {
			continue
		}
		qs := pgx.Identifier{schema}.Sanitize()
		for _, stmt := range []string{
			`GRANT USAGE ON SCHEMA ` + qs + ` TO ` + qr,
			`GRANT SELECT ON ALL TABLES IN SCHEMA ` + qs + ` TO ` + qr,
			`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + qs + ` GRANT SELECT ON TABLES TO ` + qr,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("grant reader role %s on schema %s (%s): %w", role, schema, stmt, privilegeError(err))
			}
		}
	}
	return tx.Commit(ctx)
}

// privilegeError marks a refusal for lack of privilege (the export role may not create
// roles, or does not own the schema) as ErrReaderRole: no retry fixes it.
func privilegeError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		return fmt.Errorf("%w: %w", ErrReaderRole, err)
	}
	return err
}
