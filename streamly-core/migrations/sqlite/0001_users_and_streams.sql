-- Users: username uniqueness is case-insensitive through username_canonical.
CREATE TABLE users (
    id                 BLOB PRIMARY KEY NOT NULL,
    username           TEXT NOT NULL,
    username_canonical TEXT NOT NULL UNIQUE,
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    created_at         TEXT NOT NULL
);

-- Streams: only the SHA-256 of the stream key is stored.
CREATE TABLE streams (
    id         TEXT PRIMARY KEY NOT NULL,
    owner_id   BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    live_since TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX streams_owner ON streams (owner_id, created_at);
CREATE INDEX streams_live ON streams (live_since) WHERE live_since IS NOT NULL;
