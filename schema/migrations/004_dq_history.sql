-- 004 data-quality history: every checkpoint run, each rule's outcome in it, and the keys of ALL
-- the rows each failed rule found (not GX's sample), so an engineer can ask what broke, since
-- when, and which rows. Written by ytempire_dq.history after each run; Data Docs stays the place
-- to browse one run.

-- migrate:up
CREATE SCHEMA dq;

CREATE TABLE dq.runs (
    run_id       TEXT        PRIMARY KEY,
    checkpoint   TEXT        NOT NULL,
    success      BOOLEAN     NOT NULL,
    rules_total  INTEGER     NOT NULL,
    rules_failed INTEGER     NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL
);
-- "the last runs of checkpoint X"
CREATE INDEX runs_checkpoint_started_idx ON dq.runs (checkpoint, started_at DESC);
CREATE INDEX runs_started_idx ON dq.runs (started_at DESC);

CREATE TABLE dq.rule_results (
    id               BIGSERIAL   PRIMARY KEY,
    run_id           TEXT        NOT NULL REFERENCES dq.runs (run_id) ON DELETE CASCADE,
    checkpoint       TEXT        NOT NULL,
    rule_id          TEXT        NOT NULL,
    suite            TEXT        NOT NULL,
    table_name       TEXT,
    expectation_type TEXT        NOT NULL,
    success          BOOLEAN     NOT NULL,
    unexpected_count BIGINT,
    error            TEXT,
    observed_at      TIMESTAMPTZ NOT NULL
);
-- "history of rule X" (trend, since when it fails), optionally per checkpoint
CREATE INDEX rule_results_rule_observed_idx ON dq.rule_results (rule_id, observed_at DESC);
CREATE INDEX rule_results_rule_checkpoint_idx ON dq.rule_results (rule_id, checkpoint, observed_at DESC);
CREATE INDEX rule_results_run_idx ON dq.rule_results (run_id);
CREATE INDEX rule_results_failed_idx ON dq.rule_results (rule_id, observed_at DESC) WHERE NOT success;

CREATE TABLE dq.quarantine (
    id             BIGSERIAL   PRIMARY KEY,
    run_id         TEXT        NOT NULL REFERENCES dq.runs (run_id) ON DELETE CASCADE,
    rule_id        TEXT        NOT NULL,
    table_name     TEXT        NOT NULL,
    row_key        JSONB       NOT NULL,  -- {"id": "..."}: the row's primary key (or the whole bad row when it has none)
    quarantined_at TIMESTAMPTZ NOT NULL
);
-- "which rows did rule X flag in run R", "since when is row K flagged"
CREATE INDEX quarantine_rule_run_idx ON dq.quarantine (rule_id, run_id);
CREATE INDEX quarantine_run_idx ON dq.quarantine (run_id);
CREATE INDEX quarantine_row_idx ON dq.quarantine (table_name, row_key);

-- migrate:down
DROP SCHEMA IF EXISTS dq CASCADE;
