-- Events: every event the gateway records, whether or not an endpoint wants it, kept for the
-- events API until the worker prunes it (`WorkerConfig::event_retention`, 30 days by default).
-- `payload` holds the exact bytes its deliveries send and sign. `seq` orders events recorded
-- at the same millisecond (a payment's `payment.created` before its `payment.pending`).
-- Deliveries name their event (NULL for deliveries made before events were recorded); there is
-- no foreign key, as deliveries outlive their pruned events.

CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,               -- `evt_` + 16 alphanumerics
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    type        TEXT NOT NULL,
    payload     TEXT NOT NULL,                      -- the exact JSON sent and signed
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_by_merchant ON events (merchant_id, created_at);
CREATE INDEX events_by_age ON events (created_at);

ALTER TABLE webhook_deliveries ADD COLUMN event_id TEXT;
