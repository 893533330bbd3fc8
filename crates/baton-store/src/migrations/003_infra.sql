-- Infrastructure state (SPEC §4).
-- One state per project: a lineage (random, fixed at the first write) and a serial that grows by
-- one with every change, so a stale reader can tell its copy is old. Each change is one
-- transaction touching `infra_state`, at most one `infra_resources` row and one history row.
CREATE TABLE infra_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    lineage TEXT    NOT NULL,
    serial  INTEGER NOT NULL
);

CREATE TABLE infra_resources (
    id         TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    node       TEXT    NOT NULL,
    -- JSON object: attributes as applied plus computed ones; sensitive values as `sha256:HEX`.
    attrs      TEXT    NOT NULL,
    -- JSON array of resource ids this one came after, kept so a resource removed from the file
    -- is still destroyed in the right order.
    depends_on TEXT    NOT NULL,
    serial     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE infra_history (
    serial   INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    who      TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    resource TEXT    NOT NULL,
    kind     TEXT    NOT NULL
);
