-- Configurations: who asked for a version (the actor: OS user or API token) and in which run,
-- and the intents recorded before writing a target (see config_store.rs, "Intents").
ALTER TABLE config_versions ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE config_versions ADD COLUMN run INTEGER;

-- One row per (config, env, node) that a write was about to change, or whose `on_change` has
-- not yet run to completion. `present` = 0 with `sha256` NULL: the intent was a removal.
CREATE TABLE config_intents (
    config  TEXT    NOT NULL,
    env     TEXT    NOT NULL,
    node    TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    present INTEGER NOT NULL,
    blob    TEXT    REFERENCES config_blobs (sha256),
    sha256  TEXT,
    mode    INTEGER,
    owner   TEXT,
    -- 1 while the target's `on_change` (or service action) still has to run.
    handler INTEGER NOT NULL,
    -- 1 once the write is known to have happened (an interrupted handler of a written file).
    written INTEGER NOT NULL DEFAULT 0,
    run     INTEGER,
    actor   TEXT    NOT NULL DEFAULT '',
    at      INTEGER NOT NULL,
    PRIMARY KEY (config, env, node)
);
