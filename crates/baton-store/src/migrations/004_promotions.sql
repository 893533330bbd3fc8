-- Promotion: an artifact version moves to another environment's shelf. Nothing is copied (blobs
-- are content-addressed); a row records that the version is on `env` now, where from, by whom.
-- An artifact is on shelf E when `artifacts.shelf = E` (published) or a row here says so.
CREATE TABLE promotions (
    id          INTEGER PRIMARY KEY,
    artifact_id INTEGER NOT NULL REFERENCES artifacts (id),
    env         TEXT    NOT NULL,
    from_env    TEXT    NOT NULL,
    by_who      TEXT    NOT NULL,
    -- The run whose `promote:` step promoted it; NULL from `baton artifact promote`.
    run_id      INTEGER REFERENCES runs (id),
    -- The git tag created for it, if the environment has `tag:`.
    tag         TEXT,
    promoted_at INTEGER NOT NULL,
    UNIQUE (artifact_id, env)
);
CREATE INDEX promotions_by_env ON promotions (env);
