-- The refresh engine's memory of failures: when the last one happened (failure_days counts
-- separate UTC days, so it needs the previous day) and what it was, for people. Never a token.
ALTER TABLE grants ADD COLUMN last_failure_at INTEGER;
ALTER TABLE grants ADD COLUMN last_error TEXT;
