-- Audit log of administrative actions (issue 12: resetting an asset's detector state). One row per
-- action, written by the API route or the CLI *before* the action is carried out, so an action that
-- happened is always recorded (an action that then failed to publish is recorded with its outcome).

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,                        -- "api-key:<prefix> (<name>)" or "cli:<os user>"
    action      text NOT NULL,                        -- e.g. "asset.reset"
    target      text NOT NULL,                        -- e.g. the asset id
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,   -- action-specific (reset_id, reason, outcome ...)
    request_id  text                                  -- the API request id, when it came through the API
);

CREATE INDEX audit_log_target_at ON audit_log (target, at DESC);
CREATE INDEX audit_log_at ON audit_log (at DESC);
