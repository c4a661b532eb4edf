-- The API request that caused a job (directly, or through the job that enqueued it): its
-- `X-Request-Id`, so a webhook delivery's logs lead back to the call that caused it. Jobs
-- enqueued before this column existed, or outside any request, have none.
ALTER TABLE jobs ADD COLUMN request_id TEXT;
