-- Recent readings per asset, the "history" data source of training jobs (see README, "Readings history").
-- Written in batches by the history sink agent; rows older than the retention are deleted by a timer.

CREATE TABLE readings_history (
    asset_id   text NOT NULL,
    ts         timestamptz NOT NULL,
    value      double precision NOT NULL,
    covariates jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (asset_id, ts)
);

CREATE INDEX readings_history_ts ON readings_history (ts);
