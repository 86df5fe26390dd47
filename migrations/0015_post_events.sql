-- 0015: an event's `connection_id` is always a connection. Post events used to hold their
-- target's id there; they now name the target (`target_id`) and its post (`post_id`), and the
-- target's connection in `connection_id`. `seq` counts per stream: a connection's own events
-- (target_id NULL) form one sequence, each post target's events another, as before, so the
-- numbers of the rows carried over do not change. The table is rebuilt (the old
-- UNIQUE (connection_id, seq) would collide); webhook_deliveries references it, and D1 always
-- enforces foreign keys, hence the deferral until the end of this migration.
PRAGMA defer_foreign_keys = on;

CREATE TABLE events_new (
  id             TEXT PRIMARY KEY,           -- evt_…
  tenant_id      TEXT NOT NULL,
  grant_id       TEXT NOT NULL,
  connection_id  TEXT NOT NULL,              -- conn_…: the connection the event is about
  target_id      TEXT,                       -- tgt_…: post events only
  post_id        TEXT,                       -- post_…: post events only
  seq            INTEGER NOT NULL,           -- per connection (its own events), or per target
  type           TEXT NOT NULL,
  colour         TEXT NOT NULL,
  reason         TEXT NOT NULL,
  message        TEXT NOT NULL,
  dedupe_key     TEXT NOT NULL UNIQUE,       -- connection or target id + what happened + version or date
  occurred_at    INTEGER NOT NULL,
  body           TEXT
);

INSERT INTO events_new (id, tenant_id, grant_id, connection_id, target_id, post_id, seq, type,
  colour, reason, message, dedupe_key, occurred_at, body)
SELECT e.id, e.tenant_id, e.grant_id, COALESCE(t.connection_id, e.connection_id), t.id, t.post_id,
  e.seq, e.type, e.colour, e.reason, e.message, e.dedupe_key, e.occurred_at, e.body
FROM events e LEFT JOIN post_targets t ON t.id = e.connection_id;

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE UNIQUE INDEX events_seq ON events (connection_id, COALESCE(target_id, ''), seq);
CREATE INDEX events_by_target ON events (target_id, seq) WHERE target_id IS NOT NULL;
CREATE INDEX events_by_tenant ON events (tenant_id, occurred_at);
CREATE INDEX events_by_grant ON events (grant_id, occurred_at);
CREATE INDEX events_by_time ON events (occurred_at);

PRAGMA defer_foreign_keys = off;
