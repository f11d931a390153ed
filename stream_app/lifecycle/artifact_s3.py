"""Bundles in an S3-compatible bucket (``training.artifact_store = "s3"``; needs the ``s3`` extra: boto3).

One object per bundle, ``<prefix>/<uuid>.tar.gz`` (the same archive as the PostgreSQL store), its content
checksum in the object's metadata and in the URI: ``s3://<bucket>/<key>?sha256=<hex>`` (no endpoint, no
credentials: those are settings). Loads go through this host's verified cache
(:mod:`stream_app.lifecycle.artifact_cache`), so a changed object is refused like a changed row.

An object store cannot join the registry's transaction: ``prepare`` uploads the bundle and the training
service deletes it when the registration fails (``transactional = False``); a crash between the two
leaves an unreferenced object, never a version without its bundle.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import asyncpg

from stream_app.lifecycle.artifact_bundle import ArtifactError, Prepared, check_sha256, pack
from stream_app.lifecycle.artifact_cache import BundleCache
from stream_app.settings import Settings

SCHEME = "s3"


def parse_uri(uri: str) -> tuple[str, str, str]:
    """(bucket, key, content checksum) of an ``s3://`` bundle URI."""
    parsed = urlparse(uri)
    key = unquote(parsed.path.lstrip("/"))
    if parsed.scheme != SCHEME or not parsed.netloc or not key.endswith(".tar.gz") or "@" in parsed.netloc:
        raise ArtifactError(f"S3 artifact store cannot read {uri!r} (expected s3://<bucket>/<key>.tar.gz)")
    sums = parse_qs(parsed.query).get("sha256", [])
    if len(sums) != 1:
        raise ArtifactError(f"artifact URI {uri!r} carries no sha256 checksum")
    return parsed.netloc, key, check_sha256(sums[0], f"checksum of {uri!r}")


class S3ArtifactStore:
    transactional = False

    def __init__(self, settings: Settings, cache_dir: Path) -> None:
        t = settings.training
        if not t.artifact_s3_bucket:
            raise ArtifactError("the s3 artifact store needs KILOWATCH_ARTIFACT_S3_BUCKET")
        self.bucket = t.artifact_s3_bucket
        self.max_bytes = t.artifact_max_bytes
        self.cache = BundleCache(cache_dir, self.max_bytes)
        self._settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise ArtifactError("the s3 artifact store needs boto3: install kilowatch[s3]") from None
            t = self._settings.training
            secret = t.artifact_s3_secret_access_key.get_secret_value()
            self._client = boto3.client(
                "s3",
                endpoint_url=t.artifact_s3_endpoint or None,
                region_name=t.artifact_s3_region,
                aws_access_key_id=t.artifact_s3_access_key_id or None,
                aws_secret_access_key=secret or None,
            )
        return self._client

    def prepare(self, local_dir: Path, prefix: str = "") -> Prepared:
        return Prepared(self.put_dir(local_dir, prefix), prefix)

    async def commit(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        """Nothing to write: ``prepare`` uploaded the bundle."""

    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        if not local_dir.is_dir():
            raise ArtifactError(f"artifact source {local_dir} is not a folder")
        packed = pack(local_dir, self.max_bytes)
        key = f"{prefix}/{uuid.uuid4().hex}.tar.gz" if prefix else f"{uuid.uuid4().hex}.tar.gz"
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=packed.archive,
            ContentType="application/gzip",
            Metadata={"sha256": packed.sha256, "size-bytes": str(packed.size_bytes)},
        )
        return f"{SCHEME}://{self.bucket}/{quote(key)}?sha256={packed.sha256}"

    def get_dir(self, uri: str) -> Path:
        bucket, key, sha256 = parse_uri(uri)

        def fetch() -> bytes:
            try:
                obj = self.client.get_object(Bucket=bucket, Key=key)
            except self.client.exceptions.ClientError as exc:  # botocore's, through boto3's client
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ArtifactError(f"artifact {uri} does not exist") from None
                raise
            if obj["ContentLength"] > self.max_bytes:
                raise ArtifactError(
                    f"bundle {uri} holds {obj['ContentLength']} bytes, over the limit of {self.max_bytes}"
                )
            body: bytes = obj["Body"].read()
            return body

        return self.cache.get(self._cache_key(key), sha256, fetch, uri)

    def delete(self, uri: str) -> None:
        _, key, sha256 = parse_uri(uri)
        self.client.delete_object(Bucket=self.bucket, Key=key)  # a missing key is not an error in S3
        self.cache.discard(self._cache_key(key), sha256)

    @staticmethod
    def _cache_key(key: str) -> str:
        return "s3-" + Path(key).name.removesuffix(".tar.gz")  # the object's uuid
