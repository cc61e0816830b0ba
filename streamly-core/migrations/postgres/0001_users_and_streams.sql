-- Users: username uniqueness is case-insensitive through username_canonical.
CREATE TABLE users (
    id                 UUID PRIMARY KEY,
    username           TEXT NOT NULL,
    username_canonical TEXT NOT NULL UNIQUE,
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL
);

-- Streams: only the SHA-256 of the stream key is stored.
CREATE TABLE streams (
    id         TEXT PRIMARY KEY,
    owner_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    key_hash   BYTEA NOT NULL UNIQUE,
    live_since TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX streams_owner ON streams (owner_id, created_at);
CREATE INDEX streams_live ON streams (live_since) WHERE live_since IS NOT NULL;
