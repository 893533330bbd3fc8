-- Runs of every kind (pipeline, exec, config, infra): one table, one event log.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    trigger     TEXT    NOT NULL,
    env         TEXT,
    branch      TEXT,
    commit_sha  TEXT,
    params      TEXT    NOT NULL DEFAULT '{}',
    retry_of    INTEGER REFERENCES runs (id),
    queued_at   INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    reason      TEXT,
    workspace   TEXT,
    owner       TEXT    NOT NULL
);
CREATE INDEX runs_by_name ON runs (kind, name, status);
CREATE INDEX runs_active ON runs (status) WHERE status IN ('queued', 'running');

CREATE TABLE stages (
    run_id        INTEGER NOT NULL REFERENCES runs (id),
    name          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    reason        TEXT,
    completed_seq INTEGER,
    reused_from   INTEGER,
    PRIMARY KEY (run_id, name)
);

-- One row per step per target per attempt: the unit with an exit code and a log.
CREATE TABLE steps (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    stage       TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    idx         INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    label       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    exit_code   INTEGER,
    signal      INTEGER,
    reason      TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    log_bytes   INTEGER NOT NULL DEFAULT 0,
    pgid        INTEGER,
    UNIQUE (run_id, stage, target, phase, idx, attempt)
);

-- Step output lives in files (logs/RUN/STEP.log); steps.log_bytes is its committed length.

CREATE TABLE events (
    seq    INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    data   TEXT    NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, seq);

CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    pipeline   TEXT    NOT NULL,
    stage      TEXT    NOT NULL,
    commit_sha TEXT,
    branch     TEXT,
    shelf      TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX artifacts_by_run ON artifacts (run_id);

CREATE TABLE locks (
    name    TEXT PRIMARY KEY,
    owner   TEXT    NOT NULL,
    since   INTEGER NOT NULL,
    purpose TEXT    NOT NULL
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    who     TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
