-- 013 the time each run's data was as of: on a primary the run's snapshot instant; on a hot
-- standby the replay position's time (now when it streams and has replayed all it received, else
-- the last replayed commit's time), and how far the standby was behind its primary (seconds, null
-- on a primary). See ytempire_dq.run.snapshot (AS_OF_SQL). Null for runs recorded before this.

-- migrate:up
ALTER TABLE dq.runs
    ADD COLUMN as_of               TIMESTAMPTZ,
    ADD COLUMN replica_lag_seconds DOUBLE PRECISION;

-- migrate:down
ALTER TABLE dq.runs
    DROP COLUMN IF EXISTS replica_lag_seconds,
    DROP COLUMN IF EXISTS as_of;
