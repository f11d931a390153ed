-- Results of the stream (issue 4, section 4): anomaly and forecast events stored by the results sink
-- (`kilowatch results-sink`, or the worker's in-process sink) for the query routes of the API.
--
-- Idempotent writes: an anomaly is keyed by its event_id (uuid5 of asset, timestamp and detector, so a
-- redelivered or re-emitted event is the same row); a forecast by forecast_id = uuid5 of asset,
-- issued_at, model_id and model_version (stream_app/db/results.py). The first copy stored wins.
--
-- Retention: rows are deleted by `stored_at` (when the sink stored them, not the reading's time: a
-- replay of old data must not be deleted on arrival) after `results_retention_days`, in batches, by
-- the sink itself. The tables are not partitioned (see README, "Results in PostgreSQL").

CREATE TABLE anomalies (
    event_id      uuid PRIMARY KEY,
    asset_id      text NOT NULL,
    ts            timestamptz NOT NULL,              -- the reading's timestamp
    value         double precision NOT NULL,
    expected      double precision NOT NULL,
    lower_bound   double precision NOT NULL,
    upper_bound   double precision NOT NULL,
    score         double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    type          text NOT NULL,
    reason        text NOT NULL,
    detector      text NOT NULL,
    model_version text NOT NULL,
    detected_at   timestamptz NOT NULL,              -- wall clock of the worker that scored it
    stored_at     timestamptz NOT NULL DEFAULT now()
);

-- The query routes page per asset by (ts, event_id as text), both directions; the expression matches
-- api/pagination.py's keyset so the row comparison and the ORDER BY ... LIMIT come from the index.
CREATE INDEX anomalies_asset_ts ON anomalies (asset_id, ts, (event_id::text));
-- Retention deletes by arrival: rows arrive in stored_at order, so a BRIN index is tiny and enough.
CREATE INDEX anomalies_stored_at ON anomalies USING brin (stored_at);

CREATE TABLE forecasts (
    forecast_id   uuid PRIMARY KEY,
    asset_id      text NOT NULL,
    issued_at     timestamptz NOT NULL,              -- timestamp of the last reading the forecast used
    model_id      text NOT NULL,
    model_version text NOT NULL,
    horizon       integer NOT NULL CHECK (horizon >= 1),
    points        jsonb NOT NULL,                    -- [{timestamp, predicted_value, lower, upper}]
    stored_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX forecasts_asset_issued ON forecasts (asset_id, issued_at, (forecast_id::text));
CREATE INDEX forecasts_stored_at ON forecasts USING brin (stored_at);
