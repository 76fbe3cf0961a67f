-- 014 the seasonal rules' daily values, per source: what each day of a rule's window measured
-- when a run last judged it (rows, the metric's numerator and denominator), per segment ('all'
-- for a rule without segments; a rule whose segments are pooled into 'other' keeps nothing). A
-- rule reads its training days from here and measures only the days not kept (its detection
-- days always), so a nightly reads two days of the table instead of thirty
-- (ytempire_dq.expectations.expect_daily_metric_to_be_within_seasonal_band). `relation` names the
-- table the values came from (database oid / table oid / file node): a table recreated or
-- truncated since measures its whole window again. Each run rewrites its rules' windows and
-- drops the days before them, so a rule keeps at most its window's days; the rows go with the run
-- that wrote them (the history's retention).

-- migrate:up
CREATE TABLE dq.daily_values (
    source      TEXT             NOT NULL,
    metric      TEXT             NOT NULL,
    day         DATE             NOT NULL,
    segment     TEXT             NOT NULL,
    relation    TEXT             NOT NULL,
    rows        DOUBLE PRECISION NOT NULL,
    numerator   DOUBLE PRECISION NOT NULL,
    denominator DOUBLE PRECISION NOT NULL,
    run_id      TEXT             NOT NULL REFERENCES dq.runs (run_id) ON DELETE CASCADE,
    PRIMARY KEY (source, metric, day, segment)
);
CREATE INDEX daily_values_run_idx ON dq.daily_values (run_id);

-- migrate:down
DROP TABLE IF EXISTS dq.daily_values;
