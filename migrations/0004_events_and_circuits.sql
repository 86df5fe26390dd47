-- Events: one row per change of a connection's standing (core::grant_events). Written in the
-- same guarded D1 batch as the state change; `dedupe_key` makes a transition reached twice one
-- event, and `seq` counts each connection's events with no gaps (assigned inside the insert;
-- the grant's Durable Object is the only writer, so inserts for one connection never race).
CREATE TABLE events (
  id             TEXT PRIMARY KEY,           -- evt_…
  tenant_id      TEXT NOT NULL,
  grant_id       TEXT NOT NULL,
  connection_id  TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  type           TEXT NOT NULL,              -- connection.expiring | .expired | .revoked | .degraded | .recovered
  colour         TEXT NOT NULL,              -- the connection's health after the change
  reason         TEXT NOT NULL,
  message        TEXT NOT NULL,
  dedupe_key     TEXT NOT NULL UNIQUE,       -- connection id + what happened + version or date
  occurred_at    INTEGER NOT NULL,
  UNIQUE (connection_id, seq)
);
CREATE INDEX events_by_tenant ON events (tenant_id, occurred_at);

-- One circuit per platform (core::circuit): consecutive transient failures across its grants,
-- and until when calls are held back.
CREATE TABLE platform_circuits (
  provider              TEXT PRIMARY KEY,
  consecutive_failures  INTEGER NOT NULL,
  open_until            INTEGER,
  updated_at            INTEGER NOT NULL
);

-- Grants stored before the refresh engine had no next check: the next sweep visits them once
-- and computes it from their policy.
UPDATE grants SET next_check_at = updated_at WHERE next_check_at IS NULL AND state != 'dead';

-- The sweep's lease on a grant it handed to the refresh queue: an overlapping sweep skips the
-- grant until the lease ends or the grant's visit clears it (core::sweep).
ALTER TABLE grants ADD COLUMN sweep_lease_until INTEGER;
