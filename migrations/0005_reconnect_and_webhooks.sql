-- Reconnect links (core::reconnect_links): a link's nonce is consumed by the one successful
-- callback it started; the session that started it remembers which grant, epoch and nonce.
CREATE TABLE reconnect_nonces (
  nonce        TEXT PRIMARY KEY,
  grant_id     TEXT NOT NULL,
  consumed_at  INTEGER NOT NULL
);
ALTER TABLE connect_sessions ADD COLUMN reconnect_grant_id TEXT;
ALTER TABLE connect_sessions ADD COLUMN reconnect_epoch INTEGER;
ALTER TABLE connect_sessions ADD COLUMN reconnect_nonce TEXT;

-- A tenant's webhook endpoints. The signing secret (`whsec_…`) is sealed like every secret
-- read back (AES-256-GCM, bound to tenant, endpoint and key id).
CREATE TABLE webhook_endpoints (
  id                 TEXT PRIMARY KEY,       -- whe_…
  tenant_id          TEXT NOT NULL REFERENCES tenants (id),
  url                TEXT NOT NULL,
  description        TEXT,
  event_types        TEXT NOT NULL,          -- '*' or space-separated event types
  secret_ciphertext  TEXT NOT NULL,
  key_id             TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  deleted_at         INTEGER
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id);

-- An event's webhook body, rendered once (first delivery) so every attempt sends the same bytes.
ALTER TABLE events ADD COLUMN body TEXT;
CREATE INDEX events_by_grant ON events (grant_id, occurred_at);

-- The outbox: one row per event and subscribed endpoint, written in the event's own batch.
-- Attempts are counted here; the queue only carries the row's id.
CREATE TABLE webhook_deliveries (
  id                TEXT PRIMARY KEY,        -- dlv_…
  event_id          TEXT NOT NULL REFERENCES events (id),
  endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints (id),
  tenant_id         TEXT NOT NULL,
  status            TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
  attempts          INTEGER NOT NULL DEFAULT 0,
  first_attempt_at  INTEGER,
  last_attempt_at   INTEGER,
  last_status       INTEGER,                 -- the receiver's HTTP status; NULL: no answer
  last_error        TEXT,
  next_attempt_at   INTEGER NOT NULL,        -- when it is due; the reconciler re-sends overdue rows
  enqueued_at       INTEGER,                 -- when its queue message was last sent
  delivered_at      INTEGER,
  created_at        INTEGER NOT NULL,
  UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);
