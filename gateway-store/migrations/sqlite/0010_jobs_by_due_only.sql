-- A claim or a "when is the next job due" read must walk only the due rows of the partial
-- indexes (jobs_queued_by_due, jobs_running_by_lease). With an index on status alone beside
-- them, SQLite's planner took it instead and read every queued row, future ones included, on
-- each claim: a dead endpoint's thousands of deferred deliveries made every claim slower for
-- every merchant. Pruning, its one other user, gets a partial index of its own.
DROP INDEX jobs_by_status;
CREATE INDEX jobs_completed_by_age ON jobs (updated_at) WHERE status = 'completed';
