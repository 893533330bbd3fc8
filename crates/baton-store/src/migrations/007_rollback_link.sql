-- A rollback run knows which run it rolled back, so a second rollback of the same run is
-- refused (naming the first), rollback runs are not rolled back, and `pipelines` does not count
-- them as the pipeline's last success.
ALTER TABLE runs ADD COLUMN rollback_of INTEGER REFERENCES runs(id);
CREATE INDEX runs_rollback_of ON runs(rollback_of) WHERE rollback_of IS NOT NULL;
