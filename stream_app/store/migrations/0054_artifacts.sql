-- Issue 15 (one artifact store shared by every host): model bundles in PostgreSQL.
--
-- One row per bundle: its folder as one tar.gz (bytea; a LightGBM bundle is ~1.7 MB of content), the
-- SHA-256 of its content (also carried in the URI postgres://artifacts/<id>?sha256=<hex>, checked on
-- every load) and the content's size. A training job inserts the row in the same transaction as the
-- model_versions row that names it, so a version never points at a missing bundle.
CREATE TABLE artifacts (
    id          uuid PRIMARY KEY,
    prefix      text NOT NULL,               -- the asset id the bundle was trained for
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes  bigint NOT NULL CHECK (size_bytes >= 0),
    archive     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The archive is gzip-compressed already: stored out of line without a second (pglz) compression.
ALTER TABLE artifacts ALTER COLUMN archive SET STORAGE EXTERNAL;
