-- Issue 14 (lifecycle robustness): an outbox for ModelUpdated events and a lease on training jobs.
--
-- outbox: an activation or rollback writes its event here in the same transaction as the registry
-- change; a relay publishes the rows in id order and deletes each one only after the broker acked it,
-- so a Kafka outage delays the event and never loses it (delivery is at-least-once; consumers apply
-- model updates idempotently).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,               -- full topic name, e.g. 'kilowatch.model-updates'
    key         bytea,
    value       bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);

-- Lease of an open training job: the worker that took the job names itself in ``owner`` and renews
-- ``heartbeat_at`` while it holds the job. A job whose lease expired was left by a worker that died:
-- recovery re-drives it (PENDING) or ends it FAILED (PREPARING/TRAINING). ``attempts`` counts the
-- workers that took it, so a job that kills its worker is not re-driven forever.
ALTER TABLE training_jobs
    ADD COLUMN owner        text,
    ADD COLUMN heartbeat_at timestamptz,
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0;
