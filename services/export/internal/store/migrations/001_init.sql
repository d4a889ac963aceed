-- Export's tables. Hashes, addresses and byte strings are bytea (the chain's bytes, as on the
-- bus); 256-bit quantities numeric(78,0); times timestamptz. Transactions, logs and the typed
-- tables are range-partitioned by block number; their partitions (export.<table>_p<k> for
-- blocks [k*size, (k+1)*size)) are created in the batch transaction that first needs them.

-- progress is one row: who this schema belongs to, where it started, how far it got.
CREATE TABLE progress (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    chain           text NOT NULL,
    grp             bigint NOT NULL,
    -- Where a new deployment began (-start-block, -start-time), fixed by the first run.
    start_block     bigint NOT NULL DEFAULT 0,
    start_time      timestamptz,
    -- Highest block stored, NULL before the first.
    exported_height bigint,
    blocks          bigint NOT NULL DEFAULT 0,
    -- Blocks seen before the start and skipped on purpose.
    skipped_blocks  bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blocks (
    number       bigint PRIMARY KEY,
    hash         bytea NOT NULL,
    parent_hash  bytea NOT NULL,
    time         timestamptz NOT NULL,
    timestamp_ms bigint NOT NULL,
    -- The proposer's node id (sealer_list[sealer]) and its index.
    sealer       bytea,
    sealer_index integer NOT NULL,
    tx_count     integer NOT NULL,
    gas_used     numeric(78,0) NOT NULL,
    exported_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blocks_hash ON blocks (hash);
CREATE INDEX blocks_time ON blocks (time);

-- One row per transaction with its receipt's fields.
CREATE TABLE transactions (
    block_number      bigint NOT NULL,
    transaction_index integer NOT NULL,
    hash              bytea NOT NULL,
    from_address      bytea NOT NULL,
    -- NULL for a contract creation.
    to_address        bytea,
    input             bytea NOT NULL,
    -- The first 4 bytes of the input of a call, NULL for creations and shorter inputs.
    selector          bytea,
    value             numeric(78,0) NOT NULL,
    nonce             numeric(78,0) NOT NULL,
    block_limit       numeric(78,0) NOT NULL,
    gas               numeric(78,0) NOT NULL,
    gas_price         numeric(78,0) NOT NULL,
    -- Receipt: status (0 success, 22 revert, …), Error(string) reason, output, gas used,
    -- and the created contract's address.
    status            integer NOT NULL,
    revert_reason     text,
    output            bytea NOT NULL,
    gas_used          numeric(78,0) NOT NULL,
    contract_address  bytea,
    PRIMARY KEY (block_number, hash)
) PARTITION BY RANGE (block_number);
CREATE INDEX transactions_hash ON transactions (hash);
CREATE INDEX transactions_to ON transactions (to_address, block_number);

CREATE TABLE logs (
    block_number      bigint NOT NULL,
    transaction_hash  bytea NOT NULL,
    transaction_index integer NOT NULL,
    log_index         integer NOT NULL,
    address           bytea NOT NULL,
    topics            bytea[] NOT NULL,
    data              bytea NOT NULL,
    PRIMARY KEY (block_number, transaction_hash, log_index)
) PARTITION BY RANGE (block_number);
CREATE INDEX logs_address ON logs (address, block_number);

-- The registered contracts, with the fingerprint of the -contracts entry their typed tables
-- were built from: a changed fingerprint makes the next start backfill the contract.
CREATE TABLE contracts (
    name          text PRIMARY KEY,
    fingerprint   bytea NOT NULL,
    learn         boolean NOT NULL,
    addresses     bytea[] NOT NULL,
    tables        text[] NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Addresses known to hold a registered contract: deployments learned from their creation
-- bytecode (learned, with the block and transaction) and the -contracts file's fixed addresses.
CREATE TABLE deployments (
    address          bytea PRIMARY KEY,
    contract         text NOT NULL,
    block_number     bigint,
    transaction_hash bytea,
    learned          boolean NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

-- Logs and calls of registered contracts that did not decode: data facts, kept and counted.
CREATE TABLE decode_failures (
    block_number     bigint NOT NULL,
    transaction_hash bytea NOT NULL,
    -- -1 for a call or a constructor.
    log_index        integer NOT NULL,
    contract         text NOT NULL,
    address          bytea,
    error            text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_hash, log_index, contract)
);
CREATE INDEX decode_failures_contract ON decode_failures (contract);

-- The outbox of the events and calls topics, written in the batch transaction that wrote the
-- rows. seq follows commit order because every writing transaction holds the export write
-- lock (see store.Lock); the publisher sends rows in seq order and records how far it got.
CREATE TABLE outbox (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic            text NOT NULL,
    key              bytea NOT NULL,
    value            bytea NOT NULL,
    schema           text NOT NULL,
    block_number     bigint NOT NULL,
    transaction_hash bytea NOT NULL,
    -- -1 for calls and constructors.
    log_index        integer NOT NULL,
    UNIQUE (topic, transaction_hash, log_index)
);

CREATE TABLE outbox_progress (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    published_seq  bigint NOT NULL DEFAULT 0,
    published      bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO outbox_progress DEFAULT VALUES;

-- The consumed offsets, written with the data (libs/kafka/pgoffset).
CREATE TABLE IF NOT EXISTS kafka_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
