-- A coalesce key belongs to a job only while it waits (a claim clears it), so a unique index
-- can enforce "one waiting job per key": concurrent enqueues no longer race past a NOT EXISTS,
-- and the enqueue's conflict check uses this index whatever the planner's statistics say.
UPDATE jobs SET coalesce_key = NULL WHERE coalesce_key IS NOT NULL AND state <> 'queued';
UPDATE jobs SET coalesce_key = NULL WHERE coalesce_key IS NOT NULL AND EXISTS (
  SELECT 1 FROM jobs o WHERE o.coalesce_key = jobs.coalesce_key AND o.state = 'queued' AND o.id < jobs.id);
DROP INDEX jobs_coalesce;
CREATE UNIQUE INDEX jobs_coalesce ON jobs (coalesce_key) WHERE coalesce_key IS NOT NULL;
