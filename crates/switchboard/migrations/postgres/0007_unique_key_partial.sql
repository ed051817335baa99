-- Most jobs have no unique key, yet the column's UNIQUE constraint indexed every one of them,
-- and every state change of a job (enqueue, claim, completion: none is a HOT update) wrote an
-- entry for its NULL. A partial unique index enforces the same rule (NULLs never conflicted)
-- and the enqueue's conflict clause, which names no target, still uses it.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;
ALTER TABLE jobs DROP CONSTRAINT jobs_unique_key_key;
