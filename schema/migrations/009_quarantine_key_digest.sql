-- 009 dq.quarantine holds keys of any size. The index on (table_name, row_key) held each key whole:
-- an analyst's SQL rule returning rows without the primary key is keyed by the whole row, and a
-- row over a B-tree entry's limit (~2.7 KB; 8 KB even compressed) could not be quarantined
-- ("index row requires 57280 bytes, maximum size is 8191"). The index now holds the key's digest;
-- "since when is row K flagged" reads it with
--   WHERE table_name = 'users' AND md5(row_key::text) = md5('{"id": "..."}'::jsonb::text) AND row_key = '{"id": "..."}'
-- (jsonb's text is canonical: the same key always gives the same digest).

-- migrate:up
DROP INDEX IF EXISTS dq.quarantine_row_idx;
CREATE INDEX quarantine_row_key_md5_idx ON dq.quarantine (table_name, md5(row_key::text));

-- migrate:down
-- The old index cannot hold a key over its limit: such rows (quarantined after this migration)
-- are deleted first, or the index could not be built.
DROP INDEX IF EXISTS dq.quarantine_row_key_md5_idx;
DELETE FROM dq.quarantine WHERE pg_column_size(row_key) > 2000;
CREATE INDEX quarantine_row_idx ON dq.quarantine (table_name, row_key);
