package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A later migration that retypes or drops a column the compat views read fails while they
// exist: it must drop the views export.compat_views lists first (Run creates them again).

// View is a view export creates (the -compat views): a name and its SELECT.
type View struct {
	Name   string
	Select string
}

// ReplaceViews drops the views the last call created (recorded in export.compat_views) and
// creates views in schema, recording them. Dropping and creating in one transaction lets a
// view's columns change (CREATE OR REPLACE VIEW cannot drop or retype one) while readers see
// either the old views or the new ones; calling it again changes nothing.
func (t *Tx) ReplaceViews(ctx context.Context, schema string, views []View) error {
	if err := t.dropViews(ctx); err != nil {
		return err
	}
	if len(views) == 0 {
		return nil
	}
	qs := pgx.Identifier{schema}.Sanitize()
	if _, err := t.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+qs); err != nil {
		return fmt.Errorf("create schema %s for the compat views: %w", schema, err)
	}
	for _, v := range views {
		if _, err := t.Exec(ctx, fmt.Sprintf(`CREATE VIEW %s.%s AS %s`, qs, pgx.Identifier{v.Name}.Sanitize(), v.Select)); err != nil {
			return fmt.Errorf("create compat view %s.%s: %w", schema, v.Name, err)
		}
		if _, err := t.Exec(ctx, `INSERT INTO export.compat_views (schema, name) VALUES ($1, $2)`, schema, v.Name); err != nil {
			return fmt.Errorf("record compat view %s.%s: %w", schema, v.Name, err)
		}
	}
	return nil
}

// dropViews drops every recorded compat view: they read the typed tables a contract's
// rebuild drops, and are created again once the tables are.
func (t *Tx) dropViews(ctx context.Context) error {
	rows, err := t.Query(ctx, `DELETE FROM export.compat_views RETURNING schema, name`)
	if err != nil {
		return fmt.Errorf("read compat views: %w", err)
	}
	type name struct{ schema, view string }
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (name, error) {
		var n name
		err := r.Scan(&n.schema, &n.view)
		return n, err
	})
	if err != nil {
		return fmt.Errorf("read compat views: %w", err)
	}
	for _, n := range names {
		if _, err := t.Exec(ctx, `DROP VIEW IF EXISTS `+pgx.Identifier{n.schema, n.view}.Sanitize()); err != nil {
			return fmt.Errorf("drop compat view %s.%s: %w", n.schema, n.view, err)
		}
	}
	return nil
}
