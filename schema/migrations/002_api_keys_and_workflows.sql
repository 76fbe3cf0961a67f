-- 002 api_keys and workflows: the two tables the platform's tests use but the first schema never
-- defined. api_keys belong to a user; workflows are automation runs of one channel.

-- migrate:up
CREATE TABLE api_keys (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash     CHAR(64)     NOT NULL UNIQUE,
    name         VARCHAR(100) NOT NULL,
    scopes       TEXT[]       NOT NULL DEFAULT '{}',
    created_at   TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP,
    CONSTRAINT api_keys_key_hash_format CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_keys_last_used_after_created CHECK (last_used_at IS NULL OR last_used_at >= created_at),
    CONSTRAINT api_keys_revoked_after_created CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX idx_user_api_keys ON api_keys (user_id);

CREATE TABLE workflows (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id    UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    kind          VARCHAR(50)  NOT NULL,
    status        VARCHAR(50)  NOT NULL DEFAULT 'queued',
    started_at    TIMESTAMP,
    finished_at   TIMESTAMP,
    cost          DECIMAL(10, 4) NOT NULL DEFAULT 0,
    error_message TEXT,
    created_at    TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT workflows_kind_check
        CHECK (kind IN ('script_generation', 'voice_synthesis', 'video_render', 'thumbnail', 'upload', 'analytics_sync')),
    CONSTRAINT workflows_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT workflows_cost_check CHECK (cost >= 0),
    CONSTRAINT workflows_finished_after_started CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE INDEX idx_channel_workflows ON workflows (channel_id);
CREATE INDEX idx_workflow_status ON workflows (status);

-- migrate:down
DROP TABLE IF EXISTS workflows;
DROP TABLE IF EXISTS api_keys;
