-- For a queue that only dispatches (Redis Streams): when its relay last handed this job on.
-- NULL means not since the job was last queued or rescheduled, so the relay takes it next;
-- the database queue never sets it. Every statement that queues a job or moves its due time
-- clears it.
ALTER TABLE jobs ADD COLUMN dispatched_at BIGINT;
CREATE INDEX jobs_awaiting_dispatch ON jobs (id) WHERE dispatched_at IS NULL AND status IN ('queued', 'running');
