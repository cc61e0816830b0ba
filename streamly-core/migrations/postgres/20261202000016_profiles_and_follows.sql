-- Issue 14: profiles (display name, bio, avatar) and follows. A user's rows
-- go with the user (ON DELETE CASCADE). Times are whole microseconds since
-- the epoch, as in the recordings table.
CREATE TABLE profiles (
    user_id           UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    display_name      TEXT NOT NULL DEFAULT '',
    bio               TEXT NOT NULL DEFAULT '',
    avatar            BYTEA,
    avatar_type       TEXT,
    avatar_updated_us BIGINT
);

CREATE TABLE follows (
    follower_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followed_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since_us    BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followed_id)
);

CREATE INDEX follows_followed ON follows (followed_id);
