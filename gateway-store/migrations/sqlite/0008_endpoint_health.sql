-- Endpoint health: `failing_since` is the time of the first failed attempt since the
-- endpoint's last success (NULL while it is healthy), written in the transaction that records
-- each attempt. A 410 answer, or failing for the configured period (5 days by default) without
-- a success, disables the endpoint with a `disabled_reason`.
ALTER TABLE webhook_endpoints ADD COLUMN failing_since INTEGER;
