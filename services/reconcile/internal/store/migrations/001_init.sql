-- The reconcile schema: the on-chain side consumed from export's decoded topics, the jobs
-- created over the API, runs, the business rows and chain records of a run, and results.

-- One row per decoded event (kind 'event') or call (kind 'call'). params holds the decoded
-- arguments by name as canonical texts (decimal integers, lowercase 0x hex), so a job projects
-- the fields it compares with params->>'name'.
CREATE TABLE records (
    transaction_hash   text        NOT NULL,
    log_index          integer     NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('event', 'call')),
    contract_name      text        NOT NULL,
    contract_address   text        NOT NULL,
    name               text        NOT NULL,
    signature          text        NOT NULL,
    block_number       bigint      NOT NULL,
    block_timestamp_ms bigint      NOT NULL,
    block_time         timestamptz NOT NULL,
    from_address       text,
    status             integer,
    params             jsonb       NOT NULL,
    PRIMARY KEY (transaction_hash, log_index, kind)
);
CREATE INDEX records_selector ON records (contract_name, name, block_timestamp_ms);

-- How far the on-chain side has been consumed: the highest block and block time applied.
CREATE TABLE progress (
    id                 boolean     PRIMARY KEY DEFAULT true CHECK (id),
    block_number       bigint      NOT NULL,
    block_timestamp_ms bigint      NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The consumed offsets, written with the data (libs/kafka/pgoffset).
CREATE TABLE kafka_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Jobs created over the API (jobs of the -jobs file live in the file). spec is the job as a
-- one-job YAML jobs file, read back with job.Parse.
CREATE TABLE jobs (
    name       text        PRIMARY KEY,
    spec       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A run reconciles one business file of a job. subject is the business date (YYYY-MM-DD) or,
-- for a run given a file only, the file URI; reruns of a subject are new versions, the newest
-- finished one is current.
CREATE TABLE runs (
    id            bigserial   PRIMARY KEY,
    job           text        NOT NULL,
    subject       text        NOT NULL,
    business_date date,
    file_uri      text        NOT NULL,
    version       integer     NOT NULL,
    state         text        NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
    current       boolean     NOT NULL DEFAULT false,
    attempt       integer     NOT NULL DEFAULT 0,
    spec          text        NOT NULL,
    counts        jsonb       NOT NULL DEFAULT '{}',
    totals        jsonb       NOT NULL DEFAULT '{}',
    error         text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    next_attempt  timestamptz,
    UNIQUE (job, subject, version)
);
CREATE INDEX runs_state ON runs (state) WHERE state IN ('pending', 'running');
CREATE UNIQUE INDEX runs_current ON runs (job, subject) WHERE current;

-- The business rows of a run (COPY), malformed ones included, canonical texts computed by the job's comparators:
-- keys and fields in the job's order; raw the values as read. Rows of older versions are
-- dropped when a newer version becomes current.
CREATE TABLE business_rows (
    run_id    bigint  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    line      integer NOT NULL,
    key       text    NOT NULL,
    keys      text[]  NOT NULL,
    fields    text[]  NOT NULL,
    raw       text[]  NOT NULL,
    amount    numeric,
    -- error is set for a malformed row (file, line, column, reason); its key is empty.
    error     text,
    PRIMARY KEY (run_id, line)
);
CREATE INDEX business_rows_key ON business_rows (run_id, key);

-- The chain records of a run's window, projected onto the job's fields (canonical texts).
CREATE TABLE chain_rows (
    run_id           bigint  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    transaction_hash text    NOT NULL,
    log_index        integer NOT NULL,
    block_number     bigint  NOT NULL,
    key              text    NOT NULL,
    keys             text[]  NOT NULL,
    fields           text[]  NOT NULL,
    raw              text[]  NOT NULL,
    amount           numeric,
    PRIMARY KEY (run_id, transaction_hash, log_index)
);
CREATE INDEX chain_rows_key ON chain_rows (run_id, key);

-- The results of a run: one per business row (matched, mismatched, missing_on_chain,
-- duplicate_in_business, duplicate_on_chain, malformed) and one per chain record no business
-- row carries (missing_in_business, duplicate_on_chain). chain_records is how many chain
-- records the row accounts for in the totals (a duplicated key's record counts once).
CREATE TABLE results (
    run_id           bigint  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    id               bigint  NOT NULL,
    outcome          text    NOT NULL,
    key              text[],
    line             integer,
    transaction_hash text,
    log_index        integer,
    block_number     bigint,
    diff             jsonb,
    error            text,
    business_row     boolean NOT NULL,
    chain_records    integer NOT NULL,
    business_amount  numeric,
    chain_amount     numeric,
    PRIMARY KEY (run_id, id)
);
CREATE INDEX results_outcome ON results (run_id, outcome, id);
