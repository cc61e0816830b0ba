-- Issue 14: each stream's `record` setting (on by default) and the
-- recordings, one per recorded broadcast. Times are whole microseconds
-- since the epoch, so both backends order them in SQL the same way.
-- No foreign keys: a recording outlives its stream (its files are in the
-- segment sink) until retention or its owner deletes it.
ALTER TABLE streams ADD COLUMN record BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE recordings (
    id          TEXT PRIMARY KEY NOT NULL,
    stream_id   TEXT NOT NULL,
    owner_id    BLOB NOT NULL,
    started_us  BIGINT NOT NULL,
    ended_us    BIGINT,
    duration_ms BIGINT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    status      TEXT NOT NULL
);

CREATE INDEX recordings_stream ON recordings (stream_id, started_us);
CREATE INDEX recordings_ended ON recordings (ended_us) WHERE ended_us IS NOT NULL;
CREATE INDEX recordings_status ON recordings (status) WHERE status = 'recording';
