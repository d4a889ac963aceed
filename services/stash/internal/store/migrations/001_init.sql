-- The stash's own bookkeeping. The mirrored node tables ("_sys_config_", "c_<address>", …) are
-- created beside these at run time, as blocks first write them.

-- progress is one row: how far the stash got, committed with the data it describes.
CREATE TABLE stash_progress (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    chain          text NOT NULL,
    grp            bigint NOT NULL,
    -- The first block this stash ingested: 0 when it saw the chain from its genesis.
    first_block    bigint,
    -- Highest block verified and stored, NULL before the first.
    last_verified  bigint,
    -- Highest block published to Kafka, NULL before the first.
    last_published bigint,
    -- Checkpoint of last_verified (see README: checkpoint encoding).
    checkpoint     bytea,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per verified block.
CREATE TABLE stash_blocks (
    number           bigint PRIMARY KEY,
    hash             bytea NOT NULL UNIQUE,
    parent_hash      bytea NOT NULL,
    timestamp_ms     bigint NOT NULL,
    tx_count         integer NOT NULL,
    -- The recovered sender of every transaction, 20 bytes each, in block order.
    senders          bytea NOT NULL,
    -- The block RLP when no binlog row holds it (blocks read over JSON-RPC); NULL when it is
    -- the value of the block's "_sys_hash_2_block_" row.
    raw              bytea,
    has_state        boolean NOT NULL,
    -- The storage tables the block wrote.
    tables           text[] NOT NULL,
    source           text NOT NULL,
    root_rule        smallint NOT NULL,
    valid_signatures integer NOT NULL,
    sealer_count     integer NOT NULL,
    checks           text[] NOT NULL,
    -- SHA-256 of the block's canonical encoding, and the checkpoint chained up to it.
    digest           bytea NOT NULL,
    checkpoint       bytea NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now()
);

-- Senders and block bytes do not compress: keep them out of line without trying.
ALTER TABLE stash_blocks ALTER COLUMN senders SET STORAGE EXTERNAL, ALTER COLUMN raw SET STORAGE EXTERNAL;

-- The catalog of mirrored node tables: where each lives and how its fields map to columns.
CREATE TABLE stash_tables (
    name          text PRIMARY KEY,
    main_table    text NOT NULL UNIQUE,
    history_table text NOT NULL UNIQUE,
    key_field     text NOT NULL,
    key_column    text NOT NULL,
    -- Value fields in table order (without the key) and their columns, parallel.
    fields        text[] NOT NULL,
    columns       text[] NOT NULL,
    -- Ledger tables are insert-only: their history table is a view of the main table.
    ledger        boolean NOT NULL,
    first_block   bigint NOT NULL
);
