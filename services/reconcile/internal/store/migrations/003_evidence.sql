-- Evidence (issue 13): publishers, accepted records, the batches they are sealed into and
-- anchored by, the events shared on the records topic, and verification runs. The database is
-- the spool: a record is acknowledged only once its row is committed.

-- A registered publisher. The key is the uncompressed public key (64 bytes); the address is
-- the FISCO account address derived from it by the suite.
CREATE TABLE evidence_publishers (
    name          text        PRIMARY KEY,
    suite         text        NOT NULL CHECK (suite IN ('ecdsa', 'sm')),
    public_key    bytea       NOT NULL,
    address       text        NOT NULL UNIQUE,
    roles         text[]      NOT NULL DEFAULT '{}',
    record_id     text        NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- A sealed segment: its records, by leaf_index, are the leaves of an RFC 6962 tree with root
-- root. created_ms is the segment header's creation time, so a segment written again after a
-- crash is the same bytes. State: sealed (archived or not yet) -> sent (tx_hash) -> anchored
-- (block, log index from events.v1).
CREATE TABLE evidence_batches (
    number       bigserial   PRIMARY KEY,
    batch_id     bytea       NOT NULL UNIQUE,
    segment      text        NOT NULL UNIQUE,
    root         bytea       NOT NULL,
    count        integer     NOT NULL,
    state        text        NOT NULL CHECK (state IN ('sealed', 'sent', 'anchored')),
    created_ms   bigint      NOT NULL,
    sealed_at    timestamptz NOT NULL DEFAULT now(),
    archived     boolean     NOT NULL DEFAULT false,
    tx_hash      bytea,
    sent_at      timestamptz,
    send_count   integer     NOT NULL DEFAULT 0,
    contract     text,
    block_number bigint,
    block_hash   bytea,
    log_index    integer,
    anchored_at  timestamptz
);
CREATE INDEX evidence_batches_pending ON evidence_batches (number) WHERE state <> 'anchored';

-- An accepted record, in acceptance order (seq); publisher is the publisher's name. payload is
-- NULL once erased (empty for a record without payload); payload_hash,
-- signature and leaf_hash never change.
CREATE TABLE evidence_records (
    seq          bigserial   PRIMARY KEY,
    id           text        NOT NULL UNIQUE,
    publisher    text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('publish', 'supersede', 'revoke', 'erase', 'publisher')),
    category     text        NOT NULL,
    target       text        NOT NULL DEFAULT '',
    payload_type text        NOT NULL,
    payload      bytea,
    payload_hash bytea       NOT NULL,
    not_before   timestamptz,
    not_after    timestamptz,
    signature    bytea       NOT NULL,
    leaf_hash    bytea       NOT NULL,
    source       text        NOT NULL,
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    batch        bigint      REFERENCES evidence_batches (number),
    leaf_index   integer,
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'superseded', 'revoked')),
    replaced_by  text        NOT NULL DEFAULT '',
    erased_at    timestamptz
);
CREATE INDEX evidence_records_unsealed ON evidence_records (seq) WHERE batch IS NULL;
CREATE INDEX evidence_records_batch ON evidence_records (batch, leaf_index);
CREATE INDEX evidence_records_publisher ON evidence_records (publisher, seq);

-- Events for the records topic and SubscribeRecords, written in the transaction of the change
-- they describe (the outbox). seq is the insert order, which is not the commit order; the
-- publisher numbers events in the order it publishes them (pub_seq, NULL until published), and
-- subscribers follow pub_seq, so none is skipped by a transaction that committed late.
CREATE TABLE evidence_events (
    seq        bigserial   PRIMARY KEY,
    type       text        NOT NULL,
    record_id  text        NOT NULL DEFAULT '',
    leaf_hash  bytea,
    batch      bigint,
    at         timestamptz NOT NULL DEFAULT now(),
    pub_seq    bigint      UNIQUE
);
CREATE INDEX evidence_events_unpublished ON evidence_events (seq) WHERE pub_seq IS NULL;

-- Verification runs and their findings.
CREATE TABLE evidence_verifications (
    id               bigserial   PRIMARY KEY,
    state            text        NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    trigger          text        NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    records_checked  bigint      NOT NULL DEFAULT 0,
    batches_checked  bigint      NOT NULL DEFAULT 0,
    segments_checked bigint      NOT NULL DEFAULT 0,
    error            text        NOT NULL DEFAULT ''
);

CREATE TABLE evidence_findings (
    verification bigint NOT NULL REFERENCES evidence_verifications (id) ON DELETE CASCADE,
    n            integer NOT NULL,
    kind         text    NOT NULL,
    record_id    text    NOT NULL DEFAULT '',
    batch        bigint  NOT NULL DEFAULT 0,
    detail       text    NOT NULL DEFAULT '',
    PRIMARY KEY (verification, n)
);
