-- A run's business rows and chain records are its working set, read only by the matching in
-- the run's own transactions: each run now loads them into two UNLOGGED tables of its own,
-- reconcile.run_<id>_business and reconcile.run_<id>_chain, without indexes (the matching
-- hash-joins them), created when the run loads and dropped when it ends. Shared, logged and
-- indexed tables made loading them cost a multiple of the COPY itself (WAL, two btrees per
-- table, a foreign-key check per row) and kept every current run's rows forever.
DROP TABLE business_rows;
DROP TABLE chain_rows;

-- The foreign key of results on runs cost a trigger call per result row written (a sixth of
-- the matching of a million rows) for rows that are never deleted but by their own run
-- (ClearRun); runs are never deleted.
ALTER TABLE results DROP CONSTRAINT results_run_id_fkey;
