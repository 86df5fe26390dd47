-- Media publishing: the post's media, a target's progress through a multi-step publish, the
-- re-check of an unconfirmed target, and the daily API quota ledger.

ALTER TABLE posts ADD COLUMN media TEXT;                -- JSON array (core::media::Media); NULL: text
ALTER TABLE post_targets ADD COLUMN progress TEXT;      -- JSON (core::publish_progress::Progress)
ALTER TABLE post_targets ADD COLUMN recheck_at INTEGER; -- an unconfirmed target is looked up again then
CREATE INDEX post_targets_recheck ON post_targets (recheck_at) WHERE state = 'unconfirmed';

-- Units spent per provider and quota day (YouTube: the Pacific day). Reserved before the
-- call with a conditional upsert, so concurrent uploads cannot overspend.
CREATE TABLE quota_usage (
  provider  TEXT NOT NULL,
  day       TEXT NOT NULL,
  units     INTEGER NOT NULL,
  PRIMARY KEY (provider, day)
);
