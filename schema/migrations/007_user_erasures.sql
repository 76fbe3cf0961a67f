-- 007 user_erasures: how the platform represents a user who exercised the right to erasure
-- (GDPR art. 17). The erasure job DELETEs the user (channels, videos, analytics, api_keys and
-- workflows go with it: ON DELETE CASCADE) and writes the user's id here, with when. The id is
-- all that is kept (no e-mail, no name): it is the proof of erasure the platform owes (art. 5(2))
-- and what the privacy suite checks against: no row in any table, and no cache key, may still
-- name an erased user (a restored backup or a copy without the cascades brings them back).

-- migrate:up
CREATE TABLE user_erasures (
    user_id   UUID      PRIMARY KEY,  -- no foreign key: the user row is gone
    erased_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- migrate:down
DROP TABLE IF EXISTS user_erasures;
