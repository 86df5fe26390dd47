-- The re-encryption sweep (core::key_rotation) finds grants sealed under a key other than the
-- active one by key_id ranges; this index answers that without scanning the grants.
CREATE INDEX grants_by_key ON grants (key_id);
