-- Webhook endpoints: up to 16 per merchant, each with its own URL, secret and event filter.
-- The merchant's single `webhook_url`/`webhook_secret` becomes its first ("default") endpoint,
-- subscribed to every event; deliveries record the endpoint they go to. From here on
-- `merchants.webhook_url` is no longer read (the default endpoint holds the URL), and
-- `merchants.webhook_secret` is the secret a merchant's first endpoint is created with by
-- `PUT /api/v1/webhooks/config`.

CREATE TABLE webhook_endpoints (
    id                         TEXT PRIMARY KEY,          -- `we_` + 16 alphanumerics
    merchant_id                TEXT NOT NULL REFERENCES merchants (id),
    url                        TEXT NOT NULL,
    description                TEXT,
    enabled_events             TEXT NOT NULL,             -- JSON array of event names, or ["*"]
    metadata                   TEXT NOT NULL DEFAULT '{}', -- JSON object
    status                     TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason            TEXT,
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,                      -- still signs until the time below
    previous_secret_expires_at INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id, created_at, id);

ALTER TABLE webhook_deliveries ADD COLUMN endpoint_id TEXT;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

INSERT INTO webhook_endpoints (id, merchant_id, url, description, enabled_events, metadata, status,
                               secret, created_at, updated_at)
SELECT 'we_' || lower(hex(randomblob(8))), id, webhook_url, NULL, '["*"]', '{}', 'enabled',
       webhook_secret, created_at, updated_at
FROM merchants WHERE webhook_url IS NOT NULL;

UPDATE webhook_deliveries SET endpoint_id =
    (SELECT e.id FROM webhook_endpoints e WHERE e.merchant_id = webhook_deliveries.merchant_id);
