package pgoffset_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/bcosdata/bcosdata/libs/kafka/pgoffset"
	"github.com/bcosdata/bcosdata/libs/postgres/pgtest"
)

func TestNewRejectsUnsafeSchema(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Upper", "a;drop", `"q"`, "1x"} {
		if _, err := pgoffset.New(nil, s); !errors.Is(err, pgoffset.ErrInvalidSchema) {
			t.Errorf("New(%q): error %v, want ErrInvalidSchema", s, err)
		}
		if _, err := pgoffset.CreateTableSQL(s); !errors.Is(err, pgoffset.ErrInvalidSchema) {
			t.Errorf("CreateTableSQL(%q): error %v, want ErrInvalidSchema", s, err)
		}
	}
}

// TestRecordNeverMovesBackwards records batches in and out of order and checks that Next
// returns the offset after the highest message per group and partition.
func TestRecordNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	store, err := setupSchema(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTable(ctx); err != nil {
		t.Fatalf("EnsureTable again: %v", err)
	}
	if _, ok, err := store.Next(ctx, "g", "t", 0); err != nil || ok {
		t.Fatalf("Next before any record = _, %v, %v; want none", ok, err)
	}
	record := func(group string, msgs ...kafkago.Message) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.Record(ctx, tx, group, msgs) }); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	msg := func(topic string, partition int, offset int64) kafkago.Message {
		return kafkago.Message{Topic: topic, Partition: partition, Offset: offset}
	}
	record("g", msg("t", 0, 3), msg("t", 0, 4), msg("t", 1, 9))
	record("g", msg("t", 0, 1)) // a stale redelivery
	record("g2", msg("t", 0, 100))
	record("g")
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := store.Record(ctx, tx, "g", []kafkago.Message{msg("t", 0, 50)}); err != nil {
			return err
		}
		return errors.New("roll back")
	}); err == nil {
		t.Fatal("rolled back transaction: no error")
	}
	for _, tt := range []struct {
		group     string
		partition int
		want      int64
	}{{"g", 0, 5}, {"g", 1, 10}, {"g2", 0, 101}} {
		got, ok, err := store.Next(ctx, tt.group, "t", tt.partition)
		if err != nil || !ok || got != tt.want {
			t.Errorf("Next(%s, t, %d) = %d, %v, %v; want %d", tt.group, tt.partition, got, ok, err, tt.want)
		}
	}
}
