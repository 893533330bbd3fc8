-- The notification delivery queue (see notify_store.rs). A worker claims a row by writing its
-- name and a lease in one UPDATE; only the claimant records the outcome.

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT    NOT NULL,
    origin          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    -- 'queued', 'retrying', 'sent' or 'failed'
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_retries     INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    claimed_by      TEXT,
    lease_until     INTEGER
);

-- Workers look for due rows among those still to try: a few rows of a table that keeps all.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('queued', 'retrying');
CREATE INDEX deliveries_by_origin ON deliveries (origin, id);

CREATE TABLE delivery_attempts (
    delivery INTEGER NOT NULL REFERENCES deliveries (id),
    attempt  INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    ok       INTEGER NOT NULL,
    reply    TEXT,
    worker   TEXT    NOT NULL,
    PRIMARY KEY (delivery, attempt)
);
