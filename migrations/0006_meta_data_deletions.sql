-- Meta's data-deletion callback answers a confirmation code and a status URL; this is what the
-- URL shows. The person's platform id is kept only as a SHA-256 hash.
CREATE TABLE data_deletions (
  code          TEXT PRIMARY KEY,          -- del_…, the confirmation code
  provider      TEXT NOT NULL,
  user_hash     TEXT NOT NULL,
  grants        INTEGER NOT NULL,          -- the person's grants through the app
  connections   INTEGER NOT NULL,          -- connections disconnected
  status        TEXT NOT NULL,             -- complete | partial
  requested_at  INTEGER NOT NULL,
  completed_at  INTEGER
);
