-- baton serve (see server_store.rs): what triggers decide, each by a unique key so that servers
-- restarted or running side by side on one store start one run per event.

-- Webhook deliveries seen, per pipeline: a replayed delivery id is refused.
CREATE TABLE server_deliveries (
    pipeline    TEXT    NOT NULL,
    delivery    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, delivery)
);

-- Cron slots claimed, per pipeline: `slot` is the due time (unix seconds UTC), `outcome`
-- 'fired', 'caught_up' or 'missed', `run_id` the run started for it (set after the claim).
CREATE TABLE schedule_slots (
    pipeline    TEXT    NOT NULL,
    slot        INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    run_id      INTEGER REFERENCES runs (id),
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, slot)
);

-- The last commit of (repo, branch) each pipeline's commit trigger acted on, moved by
-- compare-and-set.
CREATE TABLE commit_heads (
    pipeline   TEXT    NOT NULL,
    repo       TEXT    NOT NULL,
    branch     TEXT    NOT NULL,
    commit_sha TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (pipeline, repo, branch)
);

-- Run listings (`GET /api/runs?pipeline=&status=&limit=&before=`, `baton runs`) are newest
-- first: with one of these, any filter reads LIMIT rows of an index in id order, never the
-- whole table nor a sort of it (runs_by_name (kind, name, status) serves all three at once).
CREATE INDEX runs_by_name_id ON runs (name, id);
CREATE INDEX runs_by_kind_id ON runs (kind, id);
CREATE INDEX runs_by_status_id ON runs (status, id);

-- Live logs poll the running steps of every run: a few rows of a table that keeps every step.
CREATE INDEX steps_running ON steps (id) WHERE status = 'running';
