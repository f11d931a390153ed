-- Issue 18, the console's live parts: anomalies pushed to the API, recent alert episodes, idle sessions.

-- Every anomaly the results sink stores is announced on the channel kw_anomalies once its transaction
-- commits (payload: {"asset_id", "event_id"}, well under NOTIFY's 8000 bytes: asset ids are at most
-- 128 characters). GET /api/v1/assets/{id}/anomalies/stream LISTENs and reads the row by its key.
-- An AFTER INSERT row trigger fires only for rows really inserted (not for ON CONFLICT DO NOTHING
-- repeats), so a redelivered anomaly is not announced twice.
CREATE OR REPLACE FUNCTION kw_notify_anomaly() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kw_anomalies',
                      json_build_object('asset_id', NEW.asset_id, 'event_id', NEW.event_id)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER anomalies_notify AFTER INSERT ON anomalies
    FOR EACH ROW EXECUTE FUNCTION kw_notify_anomaly();

-- GET /api/v1/alert-episodes pages every asset's episodes newest first by (opened_at, episode_id).
CREATE INDEX alert_episodes_recent ON alert_episodes (opened_at, (episode_id::text));

-- Idle timeout: a session unused for api_session_idle_s ends even before its expires_at.
ALTER TABLE console_sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
