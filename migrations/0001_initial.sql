-- Evergreen's initial schema. D1 is the single source of truth; every write to a grant goes
-- through the grant's Durable Object. Times are Unix milliseconds (INTEGER), UTC.

-- One scheduler app.
CREATE TABLE tenants (
  id          TEXT PRIMARY KEY,              -- ten_…
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);

-- A tenant's API keys: only a hash of the key is stored.
CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,            -- key_…
  tenant_id     TEXT NOT NULL REFERENCES tenants (id),
  prefix        TEXT NOT NULL,               -- the key's first characters, to recognise it
  secret_hash   TEXT NOT NULL UNIQUE,        -- SHA-256 of the whole key, hex
  scopes        TEXT NOT NULL,               -- space-separated: tokens:read, manage
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER,
  expires_at    INTEGER,                     -- set on rotation, for an overlap window
  revoked_at    INTEGER
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

-- Where a tenant's connect and reconnect flows may send the browser back to (exact match).
CREATE TABLE tenant_return_urls (
  tenant_id   TEXT NOT NULL REFERENCES tenants (id),
  url         TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, url)
);

-- A tenant's own OAuth client for a provider (else the deployment's is used).
CREATE TABLE tenant_clients (
  tenant_id          TEXT NOT NULL REFERENCES tenants (id),
  provider           TEXT NOT NULL,
  client_id          TEXT NOT NULL,
  secret_ciphertext  TEXT NOT NULL,          -- AES-256-GCM (base64url), associated data binds the row
  key_id             TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, provider)
);

-- What one OAuth consent produced. Written only by the grant's Durable Object.
CREATE TABLE grants (
  id                   TEXT PRIMARY KEY,     -- gr_…; also the Durable Object's name
  tenant_id            TEXT NOT NULL REFERENCES tenants (id),
  provider             TEXT NOT NULL,
  provider_account_id  TEXT NOT NULL,        -- the platform's id for the consenting account
  client_id            TEXT NOT NULL,        -- which OAuth client holds it (revocation rule)
  end_user_ref         TEXT NOT NULL,        -- the scheduler's user
  scopes               TEXT,                 -- as granted, space-separated
  token_ciphertext     TEXT,                 -- AES-256-GCM (base64url); NULL once disconnected
  key_id               TEXT,                 -- which data key encrypted it
  version              INTEGER NOT NULL DEFAULT 0,  -- token version: compare-and-swap
  epoch                INTEGER NOT NULL DEFAULT 0,  -- bumped by disconnect, delete, reconnect
  access_expires_at    INTEGER,              -- NULL: unknown
  grant_expires_at     INTEGER,              -- the ledger: when the grant dies; NULL: unknown/never
  refresh_policy       TEXT NOT NULL,        -- proactive | on_demand | validate
  state                TEXT NOT NULL DEFAULT 'alive',  -- alive | expiring | dead
  state_reason         TEXT,
  refresh_state        TEXT NOT NULL DEFAULT 'ok',     -- ok | backing_off
  failure_streak       INTEGER NOT NULL DEFAULT 0,
  failure_days         INTEGER NOT NULL DEFAULT 0,     -- separate days with a transient failure
  last_refresh_at      INTEGER,
  last_validated_at    INTEGER,
  claim_id             TEXT,                 -- write-ahead marker: a refresh is in flight
  claim_expires_at     INTEGER,
  next_check_at        INTEGER,              -- when the sweep next looks at it; NULL: never
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);
-- The sweep selects next_check_at <= now through this index.
CREATE INDEX grants_by_next_check ON grants (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX grants_by_end_user ON grants (tenant_id, end_user_ref);
CREATE INDEX grants_by_account ON grants (provider, provider_account_id, client_id);

-- One postable account under a grant: a profile, a Facebook Page, a LinkedIn organization.
CREATE TABLE connections (
  id               TEXT PRIMARY KEY,         -- conn_…
  grant_id         TEXT NOT NULL REFERENCES grants (id),
  tenant_id        TEXT NOT NULL REFERENCES tenants (id),
  end_user_ref     TEXT NOT NULL,
  kind             TEXT NOT NULL,            -- profile | page | organization
  external_id      TEXT NOT NULL,            -- the platform's id for this account
  display_name     TEXT,
  username         TEXT,
  access           TEXT NOT NULL DEFAULT 'ok',  -- ok | lost
  access_reason    TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  disconnected_at  INTEGER,
  UNIQUE (grant_id, kind, external_id)
);
CREATE INDEX connections_by_end_user ON connections (tenant_id, end_user_ref);

-- A single-use connect (or reconnect) URL handed to the tenant's backend; valid 10 minutes.
CREATE TABLE connect_sessions (
  id             TEXT PRIMARY KEY,           -- cs_…
  token_hash     TEXT NOT NULL UNIQUE,       -- SHA-256 of the URL's secret part
  tenant_id      TEXT NOT NULL REFERENCES tenants (id),
  provider       TEXT NOT NULL,
  end_user_ref   TEXT NOT NULL,
  return_url     TEXT NOT NULL,
  connection_id  TEXT,                       -- set when reconnecting in place
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  opened_at      INTEGER                     -- single use: set when the browser opens it
);

-- The OAuth round trip started by opening a connect session.
CREATE TABLE oauth_sessions (
  state_hash          TEXT PRIMARY KEY,      -- SHA-256 of the state parameter
  connect_session_id  TEXT NOT NULL REFERENCES connect_sessions (id),
  binding_hash        TEXT NOT NULL,         -- SHA-256 of the browser-binding cookie
  verifier_ciphertext TEXT NOT NULL,         -- the PKCE verifier, AES-256-GCM (base64url)
  key_id              TEXT NOT NULL,
  redirect_uri        TEXT NOT NULL,
  created_at          INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL,
  consumed_at         INTEGER
);
CREATE INDEX oauth_sessions_by_expiry ON oauth_sessions (expires_at);
CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);

-- One row per cron job, updated in place: when it last ran and how that went.
CREATE TABLE cron_heartbeats (
  job                TEXT PRIMARY KEY,       -- sweep | dispatch
  runs               INTEGER NOT NULL,
  failures           INTEGER NOT NULL,
  last_scheduled_at  INTEGER,
  last_started_at    INTEGER,
  last_finished_at   INTEGER,
  last_outcome       TEXT
);

-- Queue messages nobody could process, kept for inspection and replay (never dropped).
CREATE TABLE dead_letters (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  queue        TEXT NOT NULL,
  message_id   TEXT NOT NULL,
  body         TEXT NOT NULL,                -- JSON; messages carry ids, never tokens
  reason       TEXT NOT NULL,
  received_at  INTEGER NOT NULL,
  UNIQUE (queue, message_id)
);

-- Test builds only: the shift applied to every handler's clock. Release builds never read it.
CREATE TABLE test_clock (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  offset_ms  INTEGER NOT NULL
);
