-- Issue 15: a stream's description, category (one of a fixed list, NULL:
-- none) and tags (space separated slugs), and the search over titles and
-- tags: an FTS5 table kept in step by triggers. It is keyed by the stream
-- id (UNINDEXED), not by rowid: a table with a TEXT primary key may get new
-- rowids from VACUUM.
ALTER TABLE streams ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE streams ADD COLUMN category TEXT;
ALTER TABLE streams ADD COLUMN tags TEXT NOT NULL DEFAULT '';

CREATE INDEX streams_live_category ON streams (category, live_since) WHERE live_since IS NOT NULL;

-- No diacritics folding, as the other stores: `é` matches `é` only.
CREATE VIRTUAL TABLE streams_fts USING fts5(
    id UNINDEXED,
    title,
    tags,
    tokenize = 'unicode61 remove_diacritics 0'
);

INSERT INTO streams_fts (id, title, tags) SELECT id, title, tags FROM streams;

CREATE TRIGGER streams_fts_insert AFTER INSERT ON streams BEGIN
    INSERT INTO streams_fts (id, title, tags) VALUES (new.id, new.title, new.tags);
END;

CREATE TRIGGER streams_fts_update AFTER UPDATE OF title, tags ON streams BEGIN
    UPDATE streams_fts SET title = new.title, tags = new.tags WHERE id = new.id;
END;

CREATE TRIGGER streams_fts_delete AFTER DELETE ON streams BEGIN
    DELETE FROM streams_fts WHERE id = old.id;
END;
