-- 005 data-quality metrics: the value a volume/drift rule measured in each run (a table's row
-- count, a column's daily aggregate) and the band it was judged against, so the next run can learn
-- its band from the last accepted values (ytempire_dq.expectations._history_band) and `ytdq
-- history RULE_ID` can show observed value and band run by run. Written by ytempire_dq.history
-- with the run's rule results.
--
-- Why a table of its own rather than a column of dq.rule_results: the baseline query reads the
-- last K numbers of ONE metric, typed and indexed (a JSON observed_value of every rule of every
-- run would be scanned and cast); a series is keyed by what is measured (`metric`, e.g.
-- 'sum(analytics.views) per analytics.date, current_date - 1'), not by rule_id, so renaming a
-- rule keeps its history and changing what it measures starts a new series; and the band is
-- stored as it was judged, not recomputed later from a window that has moved on.

-- migrate:up
CREATE TABLE dq.metrics (
    id            BIGSERIAL        PRIMARY KEY,
    run_id        TEXT             NOT NULL REFERENCES dq.runs (run_id) ON DELETE CASCADE,
    rule_id       TEXT             NOT NULL,
    metric        TEXT             NOT NULL,  -- what was measured (the series' key)
    value         DOUBLE PRECISION,           -- NULL: nothing to measure (e.g. the mean of a day without rows)
    success       BOOLEAN          NOT NULL,  -- the rule's verdict: only accepted values teach the band
    baseline_runs INTEGER          NOT NULL,  -- how many accepted values the band was learned from
    min_runs      INTEGER          NOT NULL,  -- how many it needs (fewer: "no baseline yet")
    median        DOUBLE PRECISION,           -- NULL while there is no baseline yet
    mad           DOUBLE PRECISION,
    lower_bound   DOUBLE PRECISION,
    upper_bound   DOUBLE PRECISION,
    observed_at   TIMESTAMPTZ      NOT NULL
);
-- "the last K accepted values of metric M" (the baseline every drift rule reads)
CREATE INDEX metrics_baseline_idx ON dq.metrics (metric, observed_at DESC) WHERE success AND value IS NOT NULL;
-- "observed value and band of rule R in run X" (ytdq history RULE_ID)
CREATE INDEX metrics_rule_run_idx ON dq.metrics (rule_id, run_id);

-- migrate:down
DROP TABLE IF EXISTS dq.metrics;
