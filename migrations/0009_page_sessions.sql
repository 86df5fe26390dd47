-- The connections page (issue 11): one session per opened page link.
--
-- A page link (`POST /v1/page-links`) is signed and carries a nonce; opening it inserts the
-- session under that nonce, so a link opens one session only. The browser holds the session's
-- secret in an HttpOnly cookie; only its SHA-256 is stored. `csrf` is the token every form on
-- the page sends back.
CREATE TABLE page_sessions (
  id            TEXT PRIMARY KEY,           -- ps_…
  link_nonce    TEXT NOT NULL UNIQUE,       -- the page link that opened it
  secret_hash   TEXT NOT NULL UNIQUE,       -- SHA-256 (hex) of the cookie's value
  tenant_id     TEXT NOT NULL REFERENCES tenants (id),
  end_user_ref  TEXT NOT NULL,
  csrf          TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX page_sessions_expiry ON page_sessions (expires_at);
