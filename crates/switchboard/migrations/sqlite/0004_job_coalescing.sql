-- Reconciling jobs (ticket and chat sync) coalesce: a job that would only repeat one still
-- waiting in the queue is not enqueued, since the waiting one will see the newer state.
ALTER TABLE jobs ADD COLUMN coalesce_key TEXT;
CREATE INDEX jobs_coalesce ON jobs (coalesce_key) WHERE state = 'queued';
