package store

import "github.com/jackc/pgx/v5/pgxpool"

// ReadPool is the query API's pool, for tests that look at its sessions.
func (s *Store) ReadPool() *pgxpool.Pool { return s.reads }
