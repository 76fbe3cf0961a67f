-- 012 the messages the checkpoints' notify action sent (or could not send) to the rules' owners.
-- One row per message and channel: what it said (the text every channel gets, and the JSON a
-- webhook gets), and whether it was delivered. A channel that could not be reached leaves its row
-- undelivered: the next run retries it (a few times), so a message is never lost in silence.
-- Whether a rule's failure is new is read from dq.rule_results (the previous run of the same
-- checkpoint and source), not from here.

-- migrate:up
CREATE TABLE dq.notifications (
    id           BIGSERIAL   PRIMARY KEY,
    run_id       TEXT        NOT NULL,
    checkpoint   TEXT        NOT NULL,
    source       TEXT,
    owner        TEXT,                  -- NULL: the rules without an owner
    channel      TEXT        NOT NULL,  -- a channel name of the routing file
    message      JSONB       NOT NULL,  -- {"subject", "text", "payload"}
    attempts     INTEGER     NOT NULL DEFAULT 0,
    last_error   TEXT,
    delivered_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
-- "what is still to be delivered", oldest first
CREATE INDEX notifications_pending_idx ON dq.notifications (created_at) WHERE delivered_at IS NULL;
CREATE INDEX notifications_created_idx ON dq.notifications (created_at);

-- migrate:down
DROP TABLE IF EXISTS dq.notifications;
