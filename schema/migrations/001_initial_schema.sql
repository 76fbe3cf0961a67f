-- 001 initial schema: the platform's four core tables (users, channels, videos, analytics),
-- PostgreSQL 15 syntax, with every constraint of the original design and CHECKs for plain rules.

-- migrate:up
CREATE TABLE users (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email             VARCHAR(255) NOT NULL UNIQUE,
    username          VARCHAR(100) NOT NULL UNIQUE,
    password_hash     VARCHAR(255) NOT NULL,
    subscription_tier VARCHAR(50)  NOT NULL DEFAULT 'free',
    created_at        TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at        TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT users_email_format CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    CONSTRAINT users_username_length CHECK (length(username) >= 3),
    CONSTRAINT users_subscription_tier_check
        CHECK (subscription_tier IN ('free', 'starter', 'professional', 'enterprise'))
);

CREATE TABLE channels (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    youtube_channel_id  VARCHAR(100) UNIQUE,
    channel_name        VARCHAR(255) NOT NULL,
    niche               VARCHAR(100),
    status              VARCHAR(50)  NOT NULL DEFAULT 'active',
    subscriber_count    INTEGER      NOT NULL DEFAULT 0,
    monetization_status VARCHAR(50)  NOT NULL DEFAULT 'not_eligible',
    created_at          TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at          TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT channels_status_check CHECK (status IN ('active', 'paused', 'suspended', 'deleted')),
    CONSTRAINT channels_monetization_status_check
        CHECK (monetization_status IN ('not_eligible', 'pending', 'monetized', 'demonetized')),
    CONSTRAINT channels_subscriber_count_check CHECK (subscriber_count >= 0)
);
CREATE INDEX idx_user_channels ON channels (user_id);
CREATE INDEX idx_channel_status ON channels (status);

CREATE TABLE videos (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    channel_id       UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    youtube_video_id VARCHAR(50) UNIQUE,
    title            VARCHAR(500) NOT NULL,
    description      TEXT,
    status           VARCHAR(50)   NOT NULL DEFAULT 'draft',
    generation_cost  DECIMAL(10, 4),
    view_count       INTEGER       NOT NULL DEFAULT 0,
    published_at     TIMESTAMP,
    created_at       TIMESTAMP     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT videos_status_check
        CHECK (status IN ('draft', 'generating', 'ready', 'scheduled', 'published', 'failed', 'archived')),
    CONSTRAINT videos_view_count_check CHECK (view_count >= 0)
);
CREATE INDEX idx_channel_videos ON videos (channel_id);
CREATE INDEX idx_video_status ON videos (status);
CREATE INDEX idx_published_date ON videos (published_at);

CREATE TABLE analytics (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    video_id           UUID NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    date               DATE NOT NULL,
    views              INTEGER        NOT NULL DEFAULT 0,
    watch_time_minutes DECIMAL(12, 2) NOT NULL DEFAULT 0,
    revenue            DECIMAL(10, 4) NOT NULL DEFAULT 0,
    likes              INTEGER        NOT NULL DEFAULT 0,
    comments           INTEGER        NOT NULL DEFAULT 0,
    UNIQUE (video_id, date),
    CONSTRAINT analytics_views_check CHECK (views >= 0),
    CONSTRAINT analytics_watch_time_check CHECK (watch_time_minutes >= 0),
    CONSTRAINT analytics_revenue_check CHECK (revenue >= 0)
);
CREATE INDEX idx_analytics_date ON analytics (date);
CREATE INDEX idx_video_analytics ON analytics (video_id);

-- migrate:down
DROP TABLE IF EXISTS analytics;
DROP TABLE IF EXISTS videos;
DROP TABLE IF EXISTS channels;
DROP TABLE IF EXISTS users;
