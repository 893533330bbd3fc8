-- Infrastructure state (SPEC §4). Reserved: filled in by the infrastructure work.
SELECT 1;
