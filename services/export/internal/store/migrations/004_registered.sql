-- Contracts registered over the API (ExportService.RegisterContract), beside the -contracts
-- file's: every instance loads them at start and again whenever registry_version moves.
CREATE TABLE registered_contracts (
    name          text PRIMARY KEY,
    abi           bytea NOT NULL,
    bin           bytea,
    learn         boolean NOT NULL,
    addresses     text[] NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
-- Moved by each registration, in its transaction under the write lock; a batch transaction
-- reads it under the same lock and decodes with the registry of that version.
ALTER TABLE progress ADD COLUMN registry_version bigint NOT NULL DEFAULT 0;
