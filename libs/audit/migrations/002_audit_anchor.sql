-- The heads anchored through the HeadAnchorer: which seq and hash went out, under which
-- reference (the evidence record id). Verify recomputes the chain and compares the hash at the
-- last anchored seq with it, so a rewrite of the whole chain from some record on (every later
-- hash recomputed, the head row moved) is found as long as it reaches back before an anchor.
-- The row is a local copy: the anchor itself (the evidence record) is where an administrator
-- of this database cannot reach, and a verifier who distrusts this table reads it there.
CREATE TABLE audit_anchor (
    seq         bigint PRIMARY KEY,
    hash        bytea NOT NULL,
    ref         text NOT NULL,
    anchored_at timestamptz NOT NULL DEFAULT now()
);
