-- 011 which source each run checked. One results store may keep the history of several checked
-- databases (production's replica, staging): each run records the name of its source
-- (YTDQ_SOURCE, else host:port/database of the checked database, no secret), and what a run
-- learns from the history (the volume/drift baselines, the --since-last watermarks) is read for
-- its own source only: staging never teaches production's band.
-- Null for runs recorded before this migration: the first run that writes after it adopts them
-- (until then a store only ever held the history of the database it lived in).

-- migrate:up
ALTER TABLE dq.runs ADD COLUMN source TEXT;
CREATE INDEX runs_source_checkpoint_started_idx ON dq.runs (source, checkpoint, started_at DESC);

-- migrate:down
DROP INDEX IF EXISTS dq.runs_source_checkpoint_started_idx;
ALTER TABLE dq.runs DROP COLUMN IF EXISTS source;
