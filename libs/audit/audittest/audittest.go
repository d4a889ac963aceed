// Package audittest helps tests of audit trails: it forges what an administrator of the
// database could, to check that verification finds it.
package audittest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bcosdata/bcosdata/libs/audit"
)

// RewriteFrom edits record seq of the trail of service in schema (its subject becomes
// subject) and recomputes the hash of that record and of every later one, and the head: the
// chain is consistent again, only an anchor taken at seq or later tells.
func RewriteFrom(ctx context.Context, pool *pgxpool.Pool, service, schema string, seq uint64, subject string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Hold the head as the trail's writer does, so no record is appended meanwhile.
		if _, err := tx.Exec(ctx, "SELECT seq FROM "+schema+".audit_head FOR UPDATE"); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
		var prev []byte
		if err := tx.QueryRow(ctx, "SELECT prev_hash FROM "+schema+".audit WHERE seq = $1", int64(seq)).Scan(&prev); err != nil {
			return fmt.Errorf("read record %d: %w", seq, err)
		}
		if _, err := tx.Exec(ctx, "UPDATE "+schema+".audit SET subject = $1 WHERE seq = $2", subject, int64(seq)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT seq, at, subject, roles, via, peer, rpc, resource, allowed, reason, request_id FROM "+schema+".audit WHERE seq >= $1 ORDER BY seq", int64(seq))
		if err != nil {
			return err
		}
		recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Record, error) {
			var r audit.Record
			var s int64
			err := row.Scan(&s, &r.Time, &r.Subject, &r.Roles, &r.Via, &r.Peer, &r.RPC, &r.Resource, &r.Allowed, &r.Reason, &r.RequestID)
			r.Seq = uint64(s)
			return r, err
		})
		if err != nil {
			return err
		}
		for _, r := range recs {
			r.PrevHash = prev
			r.Hash = audit.ChainHash(service, prev, r)
			if _, err := tx.Exec(ctx, "UPDATE "+schema+".audit SET prev_hash = $1, hash = $2 WHERE seq = $3", r.PrevHash, r.Hash, int64(r.Seq)); err != nil {
				return err
			}
			prev = r.Hash
		}
		_, err = tx.Exec(ctx, "UPDATE "+schema+".audit_head SET hash = $1", prev)
		return err
	})
}
