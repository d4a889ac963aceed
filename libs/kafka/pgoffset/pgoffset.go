// Package pgoffset records the Kafka offsets a consumer applied in PostgreSQL, in the same
// transaction as the data they produced. Kafka's own committed offset is written after the
// database commit, so a crash in between leaves Kafka behind; the recorded offset never is,
// and the Consumer (given the Store as kafka.ConsumerConfig.Offsets) skips what it shows as
// applied. The effect is then exactly once even for a handler that is not idempotent.
//
// The table is <schema>.kafka_offsets in the calling service's own schema. Put CreateTableSQL
// in the service's migrations (the usual way, versioned with the rest of the schema), or call
// EnsureTable at start after migrating; both are idempotent.
package pgoffset

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
)

// Table is the name of the offsets table inside the service's schema.
const Table = "kafka_offsets"

// ErrInvalidSchema means a schema name is not a plain lowercase SQL identifier.
var ErrInvalidSchema = errors.New("invalid schema name")

// schemaPattern keeps schema names to identifiers that need no quoting, like libs/postgres.
var schemaPattern = regexp.MustCompile(`\A[a-z_][a-z0-9_]{0,62}\z`)

// Store reads and writes the applied offsets of consumer groups in one schema. It implements
// kafka.OffsetStore.
type Store struct {
	pool  *pgxpool.Pool
	table string // schema-qualified
}

// New returns the store of the offsets table in schema, read through pool.
func New(pool *pgxpool.Pool, schema string) (*Store, error) {
	if !schemaPattern.MatchString(schema) {
		return nil, fmt.Errorf("new offset store in schema %q: %w", schema, ErrInvalidSchema)
	}
	return &Store{pool: pool, table: schema + "." + Table}, nil
}

// CreateTableSQL returns the idempotent DDL of the offsets table in schema, for a service's
// migrations. The schema must exist.
func CreateTableSQL(schema string) (string, error) {
	if !schemaPattern.MatchString(schema) {
		return "", fmt.Errorf("offsets table DDL for schema %q: %w", schema, ErrInvalidSchema)
	}
	return createTableSQL(schema + "." + Table), nil
}

func createTableSQL(table string) string {
	return `CREATE TABLE IF NOT EXISTS ` + table + ` (
	group_id    text        NOT NULL,
	topic       text        NOT NULL,
	partition   integer     NOT NULL,
	-- The offset after the last applied message: where the group resumes.
	next_offset bigint      NOT NULL,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (group_id, topic, partition)
)`
}

// EnsureTable creates the offsets table unless it exists. The schema must exist.
func (s *Store) EnsureTable(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, createTableSQL(s.table)); err != nil {
		return fmt.Errorf("create table %s: %w", s.table, err)
	}
	return nil
}

// Record stores, in tx, that group applied msgs: per topic partition, the offset after the
// highest message. Call it in the handler's transaction, with the batch the handler was given.
// A stored offset never moves backwards, so a stale redelivery cannot undo progress, and an
// unchanged offset is not rewritten.
func (s *Store) Record(ctx context.Context, tx pgx.Tx, group string, msgs []kafkago.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	type key struct {
		topic     string
		partition int
	}
	next := make(map[key]int64)
	for _, m := range msgs {
		k := key{m.Topic, m.Partition}
		next[k] = max(next[k], m.Offset+1)
	}
	topics := make([]string, 0, len(next))
	partitions := make([]int32, 0, len(next))
	offsets := make([]int64, 0, len(next))
	for k, n := range next {
		topics = append(topics, k.topic)
		partitions = append(partitions, int32(k.partition))
		offsets = append(offsets, n)
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+s.table+` AS o (group_id, topic, partition, next_offset)
SELECT $1, u.topic, u.partition, u.next_offset
FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS u(topic, partition, next_offset)
ON CONFLICT (group_id, topic, partition) DO UPDATE
SET next_offset = excluded.next_offset, updated_at = now()
WHERE o.next_offset < excluded.next_offset`, group, topics, partitions, offsets)
	if err != nil {
		return fmt.Errorf("record offsets of group %s up to topic %s partition %d offset %d: %w",
			group, msgs[len(msgs)-1].Topic, msgs[len(msgs)-1].Partition, msgs[len(msgs)-1].Offset, err)
	}
	return nil
}

// Next returns the offset after the last message of the topic partition that group recorded,
// and false if it recorded none.
func (s *Store) Next(ctx context.Context, group, topic string, partition int) (int64, bool, error) {
	var next int64
	err := s.pool.QueryRow(ctx, `SELECT next_offset FROM `+s.table+` WHERE group_id = $1 AND topic = $2 AND partition = $3`,
		group, topic, partition).Scan(&next)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("read recorded offset of group %s topic %s partition %d: %w", group, topic, partition, err)
	}
	return next, true, nil
}
