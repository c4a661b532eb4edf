-- The gateway's schema on SQLite. Times are Unix milliseconds; money is integer minor units.

CREATE TABLE merchants (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    business_name   TEXT NOT NULL,
    api_key         TEXT NOT NULL UNIQUE,
    api_secret_hash BLOB NOT NULL,          -- HMAC-SHA256(pepper, secret); the secret is never stored
    webhook_url     TEXT,
    webhook_secret  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    receipt     TEXT,
    notes       TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL CHECK (status IN ('created', 'attempted', 'paid')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX orders_by_merchant ON orders (merchant_id, created_at DESC, id DESC);

CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id),
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    amount            INTEGER NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    method            TEXT NOT NULL CHECK (method IN ('upi', 'card')),
    vpa               TEXT,
    card_network      TEXT,
    card_last4        TEXT CHECK (card_last4 IS NULL OR length(card_last4) = 4),
    card_expiry_month INTEGER,
    card_expiry_year  INTEGER,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    captured          INTEGER NOT NULL DEFAULT 0 CHECK (captured IN (0, 1)),
    error_code        TEXT,
    error_description TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CHECK (captured = 0 OR status = 'success')
);
CREATE INDEX payments_by_merchant ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_by_order ON payments (order_id);

CREATE TABLE refunds (
    id           TEXT PRIMARY KEY,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    reason       TEXT,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'processed', 'failed')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    processed_at INTEGER
);
CREATE INDEX refunds_by_merchant ON refunds (merchant_id, created_at DESC, id DESC);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

-- The reference's webhook_logs: one row per event to deliver, its latest attempt inline.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,          -- the exact bytes sent and signed
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at INTEGER,
    next_retry_at   INTEGER,
    response_code   INTEGER,
    response_body   TEXT,
    duration_ms     INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_merchant ON webhook_deliveries (merchant_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt       INTEGER NOT NULL,
    attempted_at  INTEGER NOT NULL,
    response_code INTEGER,
    response_body TEXT,
    duration_ms   INTEGER NOT NULL,
    error         TEXT,
    status        TEXT NOT NULL,
    next_retry_at INTEGER
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);

CREATE TABLE idempotency_keys (
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    key         TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    response    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
);

-- The job queue and transactional outbox.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    payload      TEXT,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_queued_by_due ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_running_by_lease ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_by_entity ON jobs (entity_id, kind);
CREATE INDEX jobs_by_status ON jobs (status);

CREATE TABLE worker_heartbeats (
    worker  TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
