-- Who started a run (an OS user, later an API token's name), and cancellation as a request
-- recorded in the store: whichever process runs the run watches for it.
ALTER TABLE runs ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN cancel_requested_at INTEGER;
ALTER TABLE runs ADD COLUMN cancel_requested_by TEXT;
-- Who holds a lock, as people name them (the owner is the process).
ALTER TABLE locks ADD COLUMN actor TEXT NOT NULL DEFAULT '';
