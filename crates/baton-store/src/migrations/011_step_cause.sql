-- Why a step failed when its command's own result is not the answer ('unreachable',
-- 'outcome_unknown'); NULL otherwise. Front ends classify on it (the per-node recap, exec),
-- never on the reason's text.
ALTER TABLE steps ADD COLUMN cause TEXT;
