-- Kept in step with ../postgres/0007_hot_path_indexes.sql, where these changes save index
-- writes on every chat message.

-- The deliveries of an incidence are found through the unique (incidence_id, kind, source_ref)
-- index.
DROP INDEX deliveries_queue;

-- PostgreSQL replaces the jobs' UNIQUE (unique_key) constraint with a partial index; SQLite
-- cannot drop a column constraint without rebuilding the table, and there the entry is a local
-- write to a cached B-tree page — not worth a rebuild. Fill factors are PostgreSQL's alone.
