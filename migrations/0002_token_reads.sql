-- Token reads through the API are audited: who (which API key) read which connection's token,
-- and what they got. Never the token itself.
CREATE TABLE token_reads (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id      TEXT NOT NULL,
  api_key_id     TEXT NOT NULL,
  connection_id  TEXT NOT NULL,
  grant_id       TEXT,                       -- NULL when the connection was not found
  outcome        TEXT NOT NULL,              -- served | expired | not_found | failed
  at             INTEGER NOT NULL
);
CREATE INDEX token_reads_by_tenant ON token_reads (tenant_id, at);
