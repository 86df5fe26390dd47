-- Webhook signing secrets rotate with an overlap (POST /v1/webhook-endpoints/{id}/rotate-secret,
-- core::webhooks::secret_rotation): the secret replaced keeps signing beside the new one until
-- previous_secret_expires_at, then the minute dispatch deletes it. It is sealed like the current
-- one, under associated data of its own (purpose `webhook_previous_secret`), and previous_key_id
-- names the data key it is sealed under (the re-encryption sweep moves it like the others).
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_ciphertext TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_key_id TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at INTEGER;
-- The minute dispatch finds the overlaps that ended without reading every endpoint.
CREATE INDEX webhook_endpoints_by_previous_expiry ON webhook_endpoints (previous_secret_expires_at)
  WHERE previous_secret_expires_at IS NOT NULL;
