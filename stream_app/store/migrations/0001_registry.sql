-- Registry: assets, model versions, training jobs (issue 3, section 3).

CREATE TABLE assets (
    asset_id         text PRIMARY KEY,
    name             text NOT NULL DEFAULT '',
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    retrain_interval interval,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_versions (
    asset_id     text NOT NULL REFERENCES assets (asset_id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    model_type   text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    metrics      jsonb NOT NULL DEFAULT '{}'::jsonb,
    artifact_uri text NOT NULL,
    status       text NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'active', 'retired')),
    reason       text NOT NULL DEFAULT '',
    job_id       uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    PRIMARY KEY (asset_id, version)
);

-- At most one active version per asset, enforced by the database (promotion retires the old one first).
CREATE UNIQUE INDEX model_versions_one_active ON model_versions (asset_id) WHERE status = 'active';

CREATE TABLE training_jobs (
    id           uuid PRIMARY KEY,
    asset_id     text NOT NULL REFERENCES assets (asset_id) ON DELETE CASCADE,
    request_id   uuid NOT NULL UNIQUE,
    model_type   text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    data_url     text,
    status       text NOT NULL DEFAULT 'PENDING'
                 CHECK (status IN ('PENDING', 'PREPARING', 'TRAINING', 'TRAINED', 'FAILED', 'CANCELED')),
    progress     real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    error        text,
    started_at   timestamptz,
    finished_at  timestamptz,
    cpu_percent  real,
    peak_rss_mb  real,
    duration_s   real,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX training_jobs_asset_created ON training_jobs (asset_id, created_at DESC);
CREATE INDEX training_jobs_open ON training_jobs (status) WHERE status IN ('PENDING', 'PREPARING', 'TRAINING');
