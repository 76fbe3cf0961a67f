-- 006 the database instant each run saw: every rule of a run reads one exported snapshot
-- (ytempire_dq.snapshot); the run's history says which one (its pg_export_snapshot() id, the
-- server time it was taken, and pg_current_snapshot() as xmin:xmax:xip, i.e. which transactions
-- the run's counts include). Null for runs recorded before this migration.

-- migrate:up
ALTER TABLE dq.runs
    ADD COLUMN snapshot_id    TEXT,
    ADD COLUMN snapshot_at    TIMESTAMPTZ,
    ADD COLUMN snapshot_txids TEXT;

-- migrate:down
ALTER TABLE dq.runs
    DROP COLUMN IF EXISTS snapshot_txids,
    DROP COLUMN IF EXISTS snapshot_at,
    DROP COLUMN IF EXISTS snapshot_id;
