-- API keys (issue 4, section 5): only a slow hash (argon2id) is stored, found by a short public prefix.

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL UNIQUE,
    key_hash     text NOT NULL,
    scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'admin']::text[]),
    rate_limit   integer CHECK (rate_limit IS NULL OR rate_limit > 0),   -- per minute; NULL = default
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX api_keys_created ON api_keys (created_at DESC, id);
