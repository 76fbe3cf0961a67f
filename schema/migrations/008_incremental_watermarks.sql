-- 008 incremental nightly (ytempire_dq.incremental): how much of each append-mostly table a run
-- scanned. scan_mode is 'full' (every row) or 'incremental' (row-level rules on the rows newer
-- than the last successful run's watermark only); watermarks is {table: {"column", "since",
-- "watermark"}}: "since" the exclusive lower bound the run used (null: the whole table), and
-- "watermark" max(column) at the run's snapshot among the rows dated before the snapshot's day
-- (closed days only: the day still filling is scanned again; a future-dated row cannot push it
-- ahead), i.e. the next incremental run's lower bound if this run succeeded.
-- Null for runs recorded before this migration and for projects without append-mostly tables.

-- migrate:up
ALTER TABLE dq.runs
    ADD COLUMN scan_mode  TEXT CHECK (scan_mode IN ('full', 'incremental')),
    ADD COLUMN watermarks JSONB;

-- migrate:down
ALTER TABLE dq.runs
    DROP COLUMN IF EXISTS watermarks,
    DROP COLUMN IF EXISTS scan_mode;
