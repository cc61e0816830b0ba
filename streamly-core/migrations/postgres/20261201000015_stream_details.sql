-- Issue 15: a stream's description, category (one of a fixed list, NULL:
-- none) and tags (space separated slugs), and the search over titles and
-- tags: a generated tsvector ('simple' configuration: no stemming, no stop
-- words, lowercased) under a GIN index, queried with prefix terms.
ALTER TABLE streams ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE streams ADD COLUMN category TEXT;
ALTER TABLE streams ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE streams ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, title || ' ' || tags)) STORED;

CREATE INDEX streams_search ON streams USING GIN (search);
CREATE INDEX streams_live_category ON streams (category, live_since) WHERE live_since IS NOT NULL;
