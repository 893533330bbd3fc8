-- Configuration versions (SPEC §3). Reserved: filled in by the configuration manager.
SELECT 1;
