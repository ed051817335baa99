-- Fewer index writes on the rows every chat message changes. A row update that changes no
-- indexed column and finds room in its page is a HOT update: no new index entries at all.
-- Kept in step with ../sqlite/0007_hot_path_indexes.sql.

-- Most jobs have no unique key, yet the column's UNIQUE constraint indexed every one of them,
-- and every state change of a job (enqueue, claim, completion: none is a HOT update, as the
-- state is indexed) wrote an entry for its NULL. A partial unique index enforces the same rule
-- (NULLs never conflicted), and the enqueue's conflict clause, which names no target, uses it.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;
ALTER TABLE jobs DROP CONSTRAINT jobs_unique_key_key;

-- A delivery changes state twice (sending, sent). With the state indexed neither change could
-- be HOT. Its incidence's deliveries are found through the unique (incidence_id, kind,
-- source_ref) index — a handful per incidence, filtered and sorted in memory.
DROP INDEX deliveries_queue;
ALTER TABLE deliveries SET (fillfactor = 80);

-- An incidence is rewritten at every message and sync step, never in an indexed column: room
-- left in its page lets those updates be HOT.
ALTER TABLE incidences SET (fillfactor = 75);
