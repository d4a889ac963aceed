-- Totals Status reports, kept with the rows they count instead of counted on every call:
-- counting the outbox took seconds once it held millions of messages, and Status is polled.
-- Every writing transaction adds what it inserted (Tx.Commit), under the write lock.
ALTER TABLE progress
    ADD COLUMN events_queued   bigint NOT NULL DEFAULT 0,
    ADD COLUMN calls_queued    bigint NOT NULL DEFAULT 0,
    ADD COLUMN decode_failures bigint NOT NULL DEFAULT 0;
-- A schema written before this migration: count once, by the message type each row holds.
UPDATE progress SET
    events_queued   = (SELECT count(*) FROM outbox WHERE schema = 'bcosdata.chain.v1.DecodedEvent'),
    calls_queued    = (SELECT count(*) FROM outbox WHERE schema = 'bcosdata.chain.v1.DecodedCall'),
    decode_failures = (SELECT count(*) FROM decode_failures);

-- The outbox's natural key led by the block number, as the typed tables' keys are: queued in
-- block order, its entries land at the end of the index instead of at random places among
-- millions of transaction hashes, which had the key's pages evicted and read back on every
-- batch once the outbox outgrew shared_buffers. (A transaction hash belongs to one block, so
-- the key names the same messages as before.)
ALTER TABLE outbox DROP CONSTRAINT outbox_topic_transaction_hash_log_index_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_key UNIQUE (block_number, transaction_hash, log_index, topic);
