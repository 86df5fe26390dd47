-- Bluesky's OAuth (AT Protocol): the round trip remembers what discovery found and the
-- grant's DPoP key (the account's DID, handle and PDS, its authorization server's issuer and
-- endpoints, the server's nonce), sealed (AES-256-GCM, purpose `atproto_context`, bound to the
-- state hash). NULL for every other provider.
ALTER TABLE oauth_sessions ADD COLUMN context_ciphertext TEXT;
