-- 0014: the store binds every state as a parameter (never spliced into SQL text), and SQLite
-- uses a partial index only when the query's own text implies the index's WHERE clause. So the
-- indexes that named a state become composite indexes led by the state column, which serve a
-- bound `state = ?` (and `state IN (?, ?)`) as well.
DROP INDEX post_targets_due;
CREATE INDEX post_targets_due ON post_targets (state, not_before);
DROP INDEX post_targets_leased;
CREATE INDEX post_targets_leased ON post_targets (state, lease_until);
DROP INDEX post_targets_recheck;
CREATE INDEX post_targets_recheck ON post_targets (state, recheck_at);
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
DROP INDEX webhook_deliveries_settled;
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (status, created_at);
-- Statements that find their rows by another column write `+state` / `+status` there, so the
-- planner (D1 keeps no statistics) does not take a state index over the better one.

-- Found by `scripts/query-plans`: writing or deleting a connection checked the foreign key of
-- post_targets by scanning it (its unique index leads with post_id), and a tenant's erasure
-- scanned webhook_deliveries.
CREATE INDEX post_targets_by_connection ON post_targets (connection_id);
CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant_id);

-- The pre-flight (a post's grant checked a day before its slot) no longer writes `grants`:
-- the post's batch marks each target here, the grant's object brings its check forward once
-- the batch landed, and the mark is cleared; the minute dispatch sends the marks a failed
-- call left behind (an outbox, as for webhooks).
ALTER TABLE post_targets ADD COLUMN preflight_due INTEGER;
CREATE INDEX post_targets_preflight ON post_targets (grant_id, preflight_due)
  WHERE preflight_due IS NOT NULL;
