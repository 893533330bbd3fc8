-- Configurations holding secrets (SPEC §3: "never in plaintext in the store"): the stored copy
-- of such a content is an age file encrypted to the project's recipients, and says so. The
-- placeholder redaction 002 planned (`redacted`) was never written (always 0), so the column
-- takes the new meaning; intents, which keep the content to be written, get it too.
-- `sha256` stays the hash of the bytes really on the node, so drift needs no decryption.
ALTER TABLE config_targets RENAME COLUMN redacted TO encrypted;
ALTER TABLE config_intents ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
