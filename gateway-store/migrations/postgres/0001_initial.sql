-- The gateway's schema on PostgreSQL: the SQLite schema with native types. Times are Unix
-- milliseconds (BIGINT); money is BIGINT minor units; ids are TEXT (merchant, event and delivery
-- UUIDs in hyphenated form, exactly as on SQLite).

CREATE TABLE merchants (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    business_name   TEXT NOT NULL,
    api_key         TEXT NOT NULL UNIQUE,
    api_secret_hash BYTEA NOT NULL,         -- HMAC-SHA256(pepper, secret); the secret is never stored
    webhook_url     TEXT,
    webhook_secret  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    receipt     TEXT,
    notes       TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL CHECK (status IN ('created', 'attempted', 'paid')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX orders_by_merchant ON orders (merchant_id, created_at DESC, id DESC);

CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id),
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    amount            BIGINT NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    method            TEXT NOT NULL CHECK (method IN ('upi', 'card')),
    vpa               TEXT,
    card_network      TEXT,
    card_last4        TEXT CHECK (card_last4 IS NULL OR length(card_last4) = 4),
    card_expiry_month INTEGER,
    card_expiry_year  INTEGER,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    captured          BOOLEAN NOT NULL DEFAULT false,
    error_code        TEXT,
    error_description TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (NOT captured OR status = 'success')
);
CREATE INDEX payments_by_merchant ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_by_order ON payments (order_id);

CREATE TABLE refunds (
    id           TEXT PRIMARY KEY,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    reason       TEXT,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'processed', 'failed')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX refunds_by_merchant ON refunds (merchant_id, created_at DESC, id DESC);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

-- The reference's webhook_logs: one row per event to deliver, its latest attempt inline.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,          -- the exact bytes sent and signed (not JSONB, which reformats)
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    next_retry_at   BIGINT,
    response_code   INTEGER,
    response_body   TEXT,
    duration_ms     BIGINT,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_merchant ON webhook_deliveries (merchant_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id            BIGSERIAL PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt       INTEGER NOT NULL,
    attempted_at  BIGINT NOT NULL,
    response_code INTEGER,
    response_body TEXT,
    duration_ms   BIGINT NOT NULL,
    error         TEXT,
    status        TEXT NOT NULL,
    next_retry_at BIGINT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);

CREATE TABLE idempotency_keys (
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    key         TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    response    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, key)
);

-- The job queue and transactional outbox. Workers claim with FOR UPDATE SKIP LOCKED and wake
-- on NOTIFY gateway_jobs.
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    payload      TEXT,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_queued_by_due ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_running_by_lease ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_by_entity ON jobs (entity_id, kind);
CREATE INDEX jobs_by_status ON jobs (status);

CREATE TABLE worker_heartbeats (
    worker  TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
