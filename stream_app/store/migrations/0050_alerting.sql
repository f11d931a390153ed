-- Alerting (issue 5): configuration, episodes, digest queue and the delivery log.
-- Applied by `kilowatch db upgrade` (files NNNN_name.sql in order); idempotent.

CREATE TABLE IF NOT EXISTS alert_config (
    name          text PRIMARY KEY DEFAULT 'default',
    email         text NOT NULL,
    threshold     double precision NOT NULL CHECK (threshold >= 0 AND threshold <= 1),
    frequency     text NOT NULL CHECK (frequency IN ('immediate', 'hourly', 'daily_digest')),
    anomaly_types text[] NOT NULL DEFAULT '{}',   -- empty = every type
    enabled       boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Consecutive anomalies of one asset; one episode sends at most one alert.
CREATE TABLE IF NOT EXISTS alert_episodes (
    episode_id      uuid PRIMARY KEY,
    asset_id        text NOT NULL,
    opened_at       timestamptz NOT NULL,
    last_anomaly_at timestamptz NOT NULL,
    closed_at       timestamptz,
    anomaly_count   integer NOT NULL CHECK (anomaly_count >= 1),
    max_score       double precision NOT NULL,
    types           text[] NOT NULL,
    first_event_id  uuid NOT NULL,
    alerted         boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS alert_episodes_asset ON alert_episodes (asset_id, opened_at DESC);
CREATE INDEX IF NOT EXISTS alert_episodes_open ON alert_episodes (asset_id) WHERE closed_at IS NULL;

-- Alerts waiting for the hourly or daily digest.
CREATE TABLE IF NOT EXISTS alert_digest_items (
    episode_id  uuid PRIMARY KEY REFERENCES alert_episodes (episode_id),
    frequency   text NOT NULL CHECK (frequency IN ('hourly', 'daily_digest')),
    recipient   text NOT NULL,
    summary     jsonb NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    digested_at timestamptz
);
CREATE INDEX IF NOT EXISTS alert_digest_pending ON alert_digest_items (frequency) WHERE digested_at IS NULL;

-- Every message to send, retried with exponential back-off; failed ones stay here (never lost).
CREATE TABLE IF NOT EXISTS alert_deliveries (
    delivery_id     uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('alert', 'digest')),
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       text NOT NULL,
    subject         text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
