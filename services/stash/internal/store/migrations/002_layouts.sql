-- The field list each mirrored table had block by block. A node writes a table's full field
-- list in every binlog record; it changes only when an upgrade changes the table. Without this
-- history a stored block would come back (for republishing, GetStateChanges, VerifyRange) with
-- the table's current fields, not the ones its record had.
--
-- An array of {"from": block, "key": key field, "fields": [value fields in record order]}, by
-- block: each entry holds from its block until the next entry's. Empty for tables catalogued
-- before this migration, whose "fields" then serve every block until their first change.
ALTER TABLE stash_tables ADD COLUMN layouts jsonb NOT NULL DEFAULT '[]'::jsonb;
