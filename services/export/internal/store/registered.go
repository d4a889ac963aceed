package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bcosdata/bcosdata/services/export/internal/contract"
)

// Registered returns the contracts registered over the API, in registration order, and the
// registry version they make.
func (s *Store) Registered(ctx context.Context) ([]contract.Registered, int64, error) {
	return registered(ctx, s.pool)
}

// Registered is Store.Registered as this transaction sees it.
func (t *Tx) Registered(ctx context.Context) ([]contract.Registered, int64, error) {
	return registered(ctx, t.Tx)
}

func registered(ctx context.Context, q querier) ([]contract.Registered, int64, error) {
	var version int64
	err := q.QueryRow(ctx, `SELECT registry_version FROM export.progress`).Scan(&version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, fmt.Errorf("read registry version: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT name, abi, bin, learn, addresses FROM export.registered_contracts ORDER BY registered_at, name`)
	if err != nil {
		return nil, 0, fmt.Errorf("read registered contracts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (contract.Registered, error) {
		var c contract.Registered
		err := r.Scan(&c.Name, &c.ABI, &c.Bin, &c.Learn, &c.Addresses)
		return c, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read registered contracts: %w", err)
	}
	return out, version, nil
}

// RegistryVersion reads the registry version under the write lock this transaction holds.
func (t *Tx) RegistryVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := t.QueryRow(ctx, `SELECT registry_version FROM export.progress`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read registry version: %w", err)
	}
	return v, nil
}

// AddRegistered records a contract registered over the API and moves the registry version,
// which every instance's next batch sees. It returns the new version.
func (t *Tx) AddRegistered(ctx context.Context, c contract.Registered) (int64, error) {
	addrs := c.Addresses
	if addrs == nil {
		addrs = []string{}
	}
	if _, err := t.Exec(ctx, `INSERT INTO export.registered_contracts (name, abi, bin, learn, addresses) VALUES ($1, $2, $3, $4, $5)`,
		c.Name, c.ABI, nullable(c.Bin), c.Learn, addrs); err != nil {
		return 0, fmt.Errorf("record registered contract %s: %w", c.Name, err)
	}
	var v int64
	if err := t.QueryRow(ctx, `UPDATE export.progress SET registry_version = registry_version + 1 RETURNING registry_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("move registry version: %w", err)
	}
	return v, nil
}
