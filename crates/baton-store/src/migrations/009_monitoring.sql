-- Monitoring (see monitor_store.rs): metric time series with roll-ups, alert state per
-- (alert, node), the event log of alert transitions and node up/down changes, silences.

-- One row per (node, metric): samples refer to it by id, so a sample row is three numbers.
CREATE TABLE metric_series (
    id     INTEGER PRIMARY KEY,
    node   TEXT NOT NULL,
    metric TEXT NOT NULL,
    UNIQUE (node, metric)
);

-- Raw samples (kept 24 h). The key serves every read: one series from a time on.
CREATE TABLE metric_samples (
    series INTEGER NOT NULL REFERENCES metric_series (id),
    at     INTEGER NOT NULL,
    value  REAL    NOT NULL,
    PRIMARY KEY (series, at)
) WITHOUT ROWID;

-- Roll-ups: `resolution` is the bucket width in ms (60000, 3600000), `bucket` its start.
CREATE TABLE metric_rollups (
    resolution INTEGER NOT NULL,
    series     INTEGER NOT NULL REFERENCES metric_series (id),
    bucket     INTEGER NOT NULL,
    avg        REAL    NOT NULL,
    min        REAL    NOT NULL,
    max        REAL    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (resolution, series, bucket)
) WITHOUT ROWID;

-- How far each resolution is rolled up (unix ms, a bucket boundary).
CREATE TABLE metric_rollup_marks (
    resolution INTEGER PRIMARY KEY,
    done_until INTEGER NOT NULL
);

-- Where each alert stands on each node: 'inactive', 'pending' or 'firing'.
CREATE TABLE alert_states (
    alert         TEXT    NOT NULL,
    node          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    since         INTEGER NOT NULL,
    active_since  INTEGER,
    value         REAL,
    last_notified INTEGER,
    PRIMARY KEY (alert, node)
);

-- The event log: kind 'alert' (state: pending, firing, resolved, inactive) or 'node' (state:
-- up, down). AUTOINCREMENT: a sequence number is never reused, even after pruning, so a tail
-- that resumes after the last one it saw misses nothing. `notify`: NULL (nobody to notify),
-- 'pending', 'sent', 'silenced', 'dropped'.
CREATE TABLE monitor_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    alert       TEXT,
    node        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    value       REAL,
    severity    TEXT,
    condition   TEXT,
    detail      TEXT,
    since       INTEGER,
    notify      TEXT,
    notified_at INTEGER
);
CREATE INDEX monitor_events_at ON monitor_events (at);
CREATE INDEX monitor_events_unnotified ON monitor_events (seq) WHERE notify = 'pending';

CREATE TABLE alert_silences (
    id         INTEGER PRIMARY KEY,
    alert      TEXT    NOT NULL,
    node       TEXT,
    until      INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE node_states (
    node   TEXT PRIMARY KEY,
    up     INTEGER NOT NULL,
    since  INTEGER NOT NULL,
    detail TEXT
);
