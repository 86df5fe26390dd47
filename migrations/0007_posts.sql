-- Publishing: posts, one target per connection, and the dead-letter replay mark.

CREATE TABLE posts (
  id               TEXT PRIMARY KEY,         -- post_…
  tenant_id        TEXT NOT NULL REFERENCES tenants (id),
  end_user_ref     TEXT NOT NULL,            -- the first target connection's end user
  text             TEXT NOT NULL,
  publish_at       INTEGER NOT NULL,         -- the slot asked for (the creation time for "now")
  idempotency_key  TEXT NOT NULL,
  request_digest   TEXT NOT NULL,            -- SHA-256 of the request's content
  created_at       INTEGER NOT NULL,
  UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX posts_by_tenant ON posts (tenant_id, created_at);
CREATE INDEX posts_by_end_user ON posts (tenant_id, end_user_ref, created_at);

CREATE TABLE post_targets (
  id                TEXT PRIMARY KEY,        -- tgt_…
  post_id           TEXT NOT NULL REFERENCES posts (id),
  tenant_id         TEXT NOT NULL,
  connection_id     TEXT NOT NULL REFERENCES connections (id),
  grant_id          TEXT NOT NULL,
  provider          TEXT NOT NULL,
  content_hash      TEXT NOT NULL,           -- SHA-256 of the text: identical sends are staggered
  state             TEXT NOT NULL,           -- scheduled | queued | publishing | published | failed | parked | unconfirmed | cancelled
  not_before        INTEGER NOT NULL,        -- when it may be sent (slot, stagger, backoff)
  attempts          INTEGER NOT NULL DEFAULT 0,  -- sends made (refusals count; a 401 retry does not)
  lease_id          TEXT,                    -- the claim of the consumer publishing it
  lease_until       INTEGER,
  sent_at           INTEGER,                 -- the publish request of the current claim went out
  enqueued_at       INTEGER,                 -- its queue message was last sent
  platform_post_id  TEXT,                    -- stored the moment it exists
  reason            TEXT,                    -- a stable code for failed, parked, unconfirmed
  last_error        TEXT,                    -- for people; never a token
  last_status       INTEGER,                 -- the platform's last HTTP status
  published_at      INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (post_id, connection_id)
);
CREATE INDEX post_targets_due ON post_targets (not_before) WHERE state IN ('scheduled', 'queued');
CREATE INDEX post_targets_leased ON post_targets (lease_until) WHERE state = 'publishing';
CREATE INDEX post_targets_by_grant ON post_targets (grant_id, state);
CREATE INDEX post_targets_by_post ON post_targets (post_id);
CREATE INDEX post_targets_same_content ON post_targets (tenant_id, provider, content_hash, not_before);

-- post.* events use `events` with `connection_id` holding the target id (tgt_…): each target
-- has its own sequence, and a connection's own sequence stays the health story only.
ALTER TABLE dead_letters ADD COLUMN replayed_at INTEGER;
