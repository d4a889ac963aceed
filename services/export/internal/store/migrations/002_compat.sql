-- Data-Export's ignoreBasicDataTableParams (skipBaseColumns) leaves these columns NULL; none of
-- them is read by decoding or backfills.
ALTER TABLE blocks
    ALTER COLUMN parent_hash DROP NOT NULL,
    ALTER COLUMN tx_count DROP NOT NULL,
    ALTER COLUMN gas_used DROP NOT NULL;
ALTER TABLE transactions
    ALTER COLUMN value DROP NOT NULL,
    ALTER COLUMN nonce DROP NOT NULL,
    ALTER COLUMN gas DROP NOT NULL,
    ALTER COLUMN gas_price DROP NOT NULL,
    ALTER COLUMN gas_used DROP NOT NULL;

-- The -compat views export created, so the next start (or a contract's rebuild, whose typed
-- tables they read) drops exactly those.
CREATE TABLE compat_views (
    schema     text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema, name)
);
