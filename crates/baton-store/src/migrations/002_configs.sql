-- Configuration versions (SPEC §3), per (config, environment); env '' = no environment.
--
-- Contents are stored once per distinct bytes (50 nodes given the same file cost one row).
-- `sha256` of a target is the hash of what was really written; `blob` names the stored bytes,
-- which differ from it when secret values were replaced by placeholders (`redacted`), so that
-- drift can still be detected without keeping the secret (see config_store.rs).
CREATE TABLE config_blobs (
    sha256  TEXT PRIMARY KEY,
    content BLOB NOT NULL
);

CREATE TABLE config_versions (
    config       TEXT    NOT NULL,
    env          TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    who          TEXT    NOT NULL,
    -- 'applied' or 'rolled_back' (from_version → to_version).
    action       TEXT    NOT NULL,
    from_version INTEGER,
    to_version   INTEGER,
    PRIMARY KEY (config, env, version)
);

-- What each target holds in a version. Version 0 rows are the originals: what a node held
-- before baton first wrote it (present = 0 for an absent file), inserted once per node.
CREATE TABLE config_targets (
    config   TEXT    NOT NULL,
    env      TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    node     TEXT    NOT NULL,
    path     TEXT    NOT NULL,
    present  INTEGER NOT NULL,
    blob     TEXT    REFERENCES config_blobs (sha256),
    sha256   TEXT,
    mode     INTEGER,
    owner    TEXT,
    redacted INTEGER NOT NULL DEFAULT 0,
    changed  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (config, env, version, node)
);
