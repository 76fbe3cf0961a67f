-- 010 the platform's own schema: users, channels, videos and analytics as the platform's
-- specification defines them (its "Core Database Schema"), and one kind of time everywhere.
--
-- * Every timestamp becomes TIMESTAMP WITH TIME ZONE, in the four tables and in api_keys,
--   workflows and user_erasures. Assumption: the values stored so far were UTC wall-clock times;
--   each is read as such (col AT TIME ZONE 'UTC') and keeps its instant.
-- * Columns, sizes, nullability and defaults as specified: users.username VARCHAR(50), status
--   columns VARCHAR(20), videos.youtube_video_id VARCHAR(100), money DECIMAL(10,2) (existing
--   amounts are rounded to the cent), videos.view_count BIGINT, channels.youtube_channel_id and
--   channels.niche NOT NULL, monetization_status defaulting to 'pending', timestamps defaulting to
--   now(); new users.status, videos.revenue and analytics.subscribers_gained.
-- * Columns the specification does not have are dropped (their values are lost; the down part
--   brings the columns back with derived or zero values): channels.subscriber_count (a channel's
--   subscribers are the sum of its videos' analytics.subscribers_gained), channels.updated_at,
--   analytics.likes, analytics.comments.
-- * Named constraints take the specification's names (email_format, username_length).
-- * Kept as extensions: the CHECK constraints on value sets and signs (the specification has
--   none; they reject bad rows at write time and no rule needs them).
--
-- Rows a narrower column would reject stop the migration before anything is altered, with one
-- line counting them per column.

-- migrate:up
DO $$
DECLARE
    problems text[] := '{}';
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM users WHERE length(username) > 50;
    IF n > 0 THEN problems := problems || format('%s users.username longer than 50 characters', n); END IF;
    SELECT count(*) INTO n FROM users WHERE length(subscription_tier) > 20;
    IF n > 0 THEN problems := problems || format('%s users.subscription_tier longer than 20 characters', n); END IF;
    SELECT count(*) INTO n FROM channels WHERE youtube_channel_id IS NULL;
    IF n > 0 THEN problems := problems || format('%s channels.youtube_channel_id NULL', n); END IF;
    SELECT count(*) INTO n FROM channels WHERE niche IS NULL;
    IF n > 0 THEN problems := problems || format('%s channels.niche NULL', n); END IF;
    SELECT count(*) INTO n FROM channels WHERE length(status) > 20;
    IF n > 0 THEN problems := problems || format('%s channels.status longer than 20 characters', n); END IF;
    SELECT count(*) INTO n FROM channels WHERE length(monetization_status) > 20;
    IF n > 0 THEN
        problems := problems || format('%s channels.monetization_status longer than 20 characters', n);
    END IF;
    SELECT count(*) INTO n FROM videos WHERE length(status) > 20;
    IF n > 0 THEN problems := problems || format('%s videos.status longer than 20 characters', n); END IF;
    SELECT count(*) INTO n FROM videos WHERE abs(generation_cost) >= 99999999.995;
    IF n > 0 THEN problems := problems || format('%s videos.generation_cost beyond DECIMAL(10,2)', n); END IF;
    SELECT count(*) INTO n FROM analytics WHERE abs(watch_time_minutes) >= 99999999.995;
    IF n > 0 THEN
        problems := problems || format('%s analytics.watch_time_minutes beyond DECIMAL(10,2)', n);
    END IF;
    IF array_length(problems, 1) > 0 THEN
        RAISE EXCEPTION 'nothing migrated: rows the new columns would reject: %', array_to_string(problems, '; ');
    END IF;
END
$$;

ALTER TABLE users
    ALTER COLUMN username TYPE VARCHAR(50),
    ALTER COLUMN subscription_tier TYPE VARCHAR(20),
    ALTER COLUMN subscription_tier DROP NOT NULL,
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN created_at DROP NOT NULL,
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at SET DEFAULT now(),
    ALTER COLUMN updated_at DROP NOT NULL,
    ADD COLUMN status VARCHAR(20) DEFAULT 'active';
ALTER TABLE users RENAME CONSTRAINT users_email_format TO email_format;
ALTER TABLE users RENAME CONSTRAINT users_username_length TO username_length;

ALTER TABLE channels
    ALTER COLUMN youtube_channel_id SET NOT NULL,
    ALTER COLUMN niche SET NOT NULL,
    ALTER COLUMN status TYPE VARCHAR(20),
    ALTER COLUMN status DROP NOT NULL,
    ALTER COLUMN monetization_status TYPE VARCHAR(20),
    ALTER COLUMN monetization_status SET DEFAULT 'pending',
    ALTER COLUMN monetization_status DROP NOT NULL,
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN created_at DROP NOT NULL,
    DROP COLUMN subscriber_count,
    DROP COLUMN updated_at;

ALTER TABLE videos
    ALTER COLUMN youtube_video_id TYPE VARCHAR(100),
    ALTER COLUMN status TYPE VARCHAR(20),
    ALTER COLUMN status DROP NOT NULL,
    ALTER COLUMN generation_cost TYPE DECIMAL(10, 2),
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN created_at DROP NOT NULL,
    ALTER COLUMN published_at TYPE TIMESTAMPTZ USING published_at AT TIME ZONE 'UTC',
    ALTER COLUMN view_count TYPE BIGINT,
    ALTER COLUMN view_count DROP NOT NULL,
    ADD COLUMN revenue DECIMAL(10, 2) DEFAULT 0;

ALTER TABLE analytics
    ALTER COLUMN views DROP NOT NULL,
    ALTER COLUMN watch_time_minutes TYPE DECIMAL(10, 2),
    ALTER COLUMN watch_time_minutes DROP NOT NULL,
    ALTER COLUMN revenue TYPE DECIMAL(10, 2),
    ALTER COLUMN revenue DROP NOT NULL,
    DROP COLUMN likes,
    DROP COLUMN comments,
    ADD COLUMN subscribers_gained INTEGER DEFAULT 0;

ALTER TABLE api_keys
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_used_at TYPE TIMESTAMPTZ USING last_used_at AT TIME ZONE 'UTC',
    ALTER COLUMN revoked_at TYPE TIMESTAMPTZ USING revoked_at AT TIME ZONE 'UTC';

ALTER TABLE workflows
    ALTER COLUMN started_at TYPE TIMESTAMPTZ USING started_at AT TIME ZONE 'UTC',
    ALTER COLUMN finished_at TYPE TIMESTAMPTZ USING finished_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING created_at AT TIME ZONE 'UTC';

ALTER TABLE user_erasures
    ALTER COLUMN erased_at TYPE TIMESTAMPTZ USING erased_at AT TIME ZONE 'UTC';

-- migrate:down
-- Back to 009's shape. Timestamps go back to UTC wall-clock times. The new columns' values are
-- lost; the dropped ones come back derived (a channel's subscriber_count from its videos'
-- analytics, its updated_at from created_at) or zero (likes, comments). Rows the older columns
-- would reject (NULLs where 009 had NOT NULL, a view_count over INTEGER, a YouTube video id over
-- 50 characters) stop it before anything is altered.
DO $$
DECLARE
    problems text[] := '{}';
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM users WHERE subscription_tier IS NULL OR created_at IS NULL OR updated_at IS NULL;
    IF n > 0 THEN problems := problems || format('%s users with a NULL tier or timestamp', n); END IF;
    SELECT count(*) INTO n FROM channels WHERE status IS NULL OR monetization_status IS NULL OR created_at IS NULL;
    IF n > 0 THEN problems := problems || format('%s channels with a NULL status or created_at', n); END IF;
    SELECT count(*) INTO n FROM videos WHERE status IS NULL OR view_count IS NULL OR created_at IS NULL;
    IF n > 0 THEN problems := problems || format('%s videos with a NULL status, view_count or created_at', n); END IF;
    SELECT count(*) INTO n FROM videos WHERE view_count > 2147483647;
    IF n > 0 THEN problems := problems || format('%s videos.view_count beyond INTEGER', n); END IF;
    SELECT count(*) INTO n FROM videos WHERE length(youtube_video_id) > 50;
    IF n > 0 THEN problems := problems || format('%s videos.youtube_video_id longer than 50 characters', n); END IF;
    SELECT count(*) INTO n FROM analytics WHERE views IS NULL OR watch_time_minutes IS NULL OR revenue IS NULL;
    IF n > 0 THEN problems := problems || format('%s analytics rows with a NULL measure', n); END IF;
    IF array_length(problems, 1) > 0 THEN
        RAISE EXCEPTION 'nothing rolled back: rows the old columns would reject: %', array_to_string(problems, '; ');
    END IF;
END
$$;

ALTER TABLE user_erasures
    ALTER COLUMN erased_at TYPE TIMESTAMP USING erased_at AT TIME ZONE 'UTC';

ALTER TABLE workflows
    ALTER COLUMN started_at TYPE TIMESTAMP USING started_at AT TIME ZONE 'UTC',
    ALTER COLUMN finished_at TYPE TIMESTAMP USING finished_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE TIMESTAMP USING created_at AT TIME ZONE 'UTC';

ALTER TABLE api_keys
    ALTER COLUMN created_at TYPE TIMESTAMP USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_used_at TYPE TIMESTAMP USING last_used_at AT TIME ZONE 'UTC',
    ALTER COLUMN revoked_at TYPE TIMESTAMP USING revoked_at AT TIME ZONE 'UTC';

ALTER TABLE channels
    ADD COLUMN subscriber_count INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN updated_at TIMESTAMP;
UPDATE channels c SET subscriber_count = greatest(0, coalesce((
    SELECT sum(a.subscribers_gained) FROM videos v JOIN analytics a ON a.video_id = v.id WHERE v.channel_id = c.id
), 0)), updated_at = c.created_at AT TIME ZONE 'UTC';

ALTER TABLE analytics
    DROP COLUMN subscribers_gained,
    ALTER COLUMN revenue TYPE DECIMAL(10, 4),
    ALTER COLUMN revenue SET NOT NULL,
    ALTER COLUMN watch_time_minutes TYPE DECIMAL(12, 2),
    ALTER COLUMN watch_time_minutes SET NOT NULL,
    ALTER COLUMN views SET NOT NULL,
    ADD COLUMN likes INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN comments INTEGER NOT NULL DEFAULT 0;

ALTER TABLE videos
    DROP COLUMN revenue,
    ALTER COLUMN view_count TYPE INTEGER,
    ALTER COLUMN view_count SET NOT NULL,
    ALTER COLUMN published_at TYPE TIMESTAMP USING published_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE TIMESTAMP USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN generation_cost TYPE DECIMAL(10, 4),
    ALTER COLUMN status TYPE VARCHAR(50),
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN youtube_video_id TYPE VARCHAR(50);

ALTER TABLE channels
    ALTER COLUMN updated_at SET DEFAULT CURRENT_TIMESTAMP,
    ALTER COLUMN updated_at SET NOT NULL,
    ADD CONSTRAINT channels_subscriber_count_check CHECK (subscriber_count >= 0),
    ALTER COLUMN created_at TYPE TIMESTAMP USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN monetization_status TYPE VARCHAR(50),
    ALTER COLUMN monetization_status SET DEFAULT 'not_eligible',
    ALTER COLUMN monetization_status SET NOT NULL,
    ALTER COLUMN status TYPE VARCHAR(50),
    ALTER COLUMN status SET NOT NULL,
    ALTER COLUMN niche DROP NOT NULL,
    ALTER COLUMN youtube_channel_id DROP NOT NULL;

ALTER TABLE users RENAME CONSTRAINT username_length TO users_username_length;
ALTER TABLE users RENAME CONSTRAINT email_format TO users_email_format;
ALTER TABLE users
    DROP COLUMN status,
    ALTER COLUMN updated_at TYPE TIMESTAMP USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at SET DEFAULT CURRENT_TIMESTAMP,
    ALTER COLUMN updated_at SET NOT NULL,
    ALTER COLUMN created_at TYPE TIMESTAMP USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at SET DEFAULT CURRENT_TIMESTAMP,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN subscription_tier TYPE VARCHAR(50),
    ALTER COLUMN subscription_tier SET NOT NULL,
    ALTER COLUMN username TYPE VARCHAR(100);
