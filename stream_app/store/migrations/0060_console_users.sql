-- Console sign-in (issue 18): user accounts with a role, and their sessions. Passwords are kept only as an
-- argon2id hash (as API keys are); a session is found by the SHA-256 of its random token (the token itself,
-- 256 bits, is only in the browser's HttpOnly cookie), and carries the SHA-256 of its CSRF token.

CREATE TABLE console_users (
    username      text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

CREATE TABLE console_sessions (
    token_hash   text PRIMARY KEY,
    username     text NOT NULL REFERENCES console_users (username) ON DELETE CASCADE,
    csrf_hash    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX console_sessions_user ON console_sessions (username);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
