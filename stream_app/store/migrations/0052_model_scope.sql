-- Issue 14: a `model` scope for training and model control (assets, training, activation, rollback,
-- version deletion, job cancel); `write` is ingestion only. Widen the scopes CHECK to allow it.
-- Existing write keys keep `write` only: an operator grants `model` explicitly to the keys that
-- should control models (a meter's key should not).

ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_scopes_check;
ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes <@ ARRAY['read', 'write', 'model', 'admin']::text[]);
