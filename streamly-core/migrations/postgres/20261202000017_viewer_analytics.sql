-- Issue 15: viewer analytics per broadcast. A broadcast is a stream's
-- publish, named by the stream's `live_since` (whole microseconds). Each
-- node writes its own sample per period (summed on read); playback
-- sessions are kept as 32-hex-digit hashes, inserted or ignored. No
-- foreign keys: analytics live as long as the broadcast's recording.
CREATE TABLE viewer_samples (
    stream_id    TEXT NOT NULL,
    broadcast_us BIGINT NOT NULL,
    node_id      TEXT NOT NULL,
    at_us        BIGINT NOT NULL,
    period_ms    BIGINT NOT NULL,
    playback     BIGINT NOT NULL,
    chat         BIGINT NOT NULL,
    PRIMARY KEY (stream_id, broadcast_us, at_us, node_id)
);

CREATE INDEX viewer_samples_at ON viewer_samples (at_us);

CREATE TABLE viewer_sessions (
    stream_id    TEXT NOT NULL,
    broadcast_us BIGINT NOT NULL,
    session_hash TEXT NOT NULL,
    PRIMARY KEY (stream_id, broadcast_us, session_hash)
);
