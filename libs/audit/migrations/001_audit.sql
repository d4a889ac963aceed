-- The audit trail of one service, in the service's own schema (migrations run with
-- search_path set to it). Rows are written only by libs/audit's writer, which takes the head
-- row FOR UPDATE so the chain stays linear whatever the number of replicas.
CREATE TABLE audit (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    subject    text NOT NULL,
    roles      text[] NOT NULL,
    via        text NOT NULL,
    peer       text NOT NULL,
    rpc        text NOT NULL,
    resource   text NOT NULL,
    allowed    boolean NOT NULL,
    reason     text NOT NULL,
    request_id text NOT NULL,
    -- hash = SHA-256(prev_hash || canonical content); the first row's prev_hash is 32 zero bytes.
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_subject ON audit (subject, seq);

-- The head: the last row's seq and hash, written in the same transaction as the rows. A row
-- deleted at the tail shows as a head the rows no longer reach.
CREATE TABLE audit_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- The audit table is also the outbox of the audit topic: rows up to seq are on the topic.
CREATE TABLE audit_published (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL
);
INSERT INTO audit_published (seq) VALUES (0);
