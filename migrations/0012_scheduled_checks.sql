-- The scheduled check (docs/scheduled-checks.md): every live grant is proved alive with its
-- platform once a day, whatever its refresh policy. Grants stored before it may have no next
-- check (X, declared on-demand providers) or one weeks away (Instagram's lead time, YouTube's
-- keep-alive): bring each to a moment within the next day, spread by its row number the way
-- the core spreads checks (`scheduled_check::CheckSlot`), so a large deployment does not check
-- every grant in the same hour. The visit then computes the real schedule. Dead grants, grants
-- whose tokens a disconnect deleted, and grants backing off (their next check is their retry)
-- are left alone.
UPDATE grants
SET next_check_at = MIN(
      COALESCE(next_check_at, 9007199254740991),
      CAST(strftime('%s', 'now') AS INTEGER) * 1000 + (rowid * 2654435761) % 86400000
    )
WHERE state != 'dead' AND token_ciphertext IS NOT NULL AND refresh_state = 'ok';

-- Test builds only (the test clock is compiled out of release builds): a clock a test can stop
-- at a moment it names, so connects and sweeps happen at exact times. NULL: the clock runs
-- (real time plus the offset).
ALTER TABLE test_clock ADD COLUMN frozen_at INTEGER;
