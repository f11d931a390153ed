-- Issue 17: uploaded datasets, their readings, generic jobs and the results jobs produce.

CREATE TABLE datasets (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    status           text NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'processing', 'processed')),
    file_name        text NOT NULL DEFAULT '',
    file_format      text NOT NULL CHECK (file_format IN ('csv', 'xlsx')),
    file_bytes       bigint NOT NULL CHECK (file_bytes >= 0),
    timezone         text NOT NULL,
    unit             text NOT NULL,
    detection        jsonb NOT NULL DEFAULT '{}'::jsonb,
    interval_s       integer NOT NULL CHECK (interval_s > 0),
    row_count        integer NOT NULL CHECK (row_count >= 0),
    start_at         timestamptz,
    end_at           timestamptz,
    processed        jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX datasets_created ON datasets (created_at DESC, id);

-- series 0 = as uploaded (kWh per interval, NULL = missing), 1 = the latest preprocessing output.
CREATE TABLE dataset_readings (
    dataset_id uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    series     smallint NOT NULL CHECK (series IN (0, 1)),
    ts         timestamptz NOT NULL,
    value      double precision,
    PRIMARY KEY (dataset_id, series, ts)
);

-- Every kind of long work but training (training_jobs keeps its own finer states; the API shows both).
CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    type          text NOT NULL,
    dataset_id    uuid REFERENCES datasets (id) ON DELETE CASCADE,
    params        jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    progress      real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    result_id     uuid,
    error         jsonb,
    owner         text,
    lease_until   timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);

CREATE INDEX jobs_created ON jobs (created_at DESC, id);
CREATE INDEX jobs_open ON jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_dataset ON jobs (dataset_id);

CREATE TABLE job_results (
    id          uuid PRIMARY KEY,
    job_id      uuid NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
    type        text NOT NULL,
    dataset_id  uuid REFERENCES datasets (id) ON DELETE CASCADE,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
