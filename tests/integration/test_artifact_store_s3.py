"""The S3-compatible artifact store against a real S3-compatible HTTP server started here: moto's
``moto_server`` (from PyPI; MinIO has no installable binary on this machine). Round trip between two
hosts' caches, a changed object refused, the size bound, deletes, and routing by URI scheme."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_app.lifecycle.artifact_bundle import pack, tree_digest
from stream_app.lifecycle.artifact_s3 import S3ArtifactStore, parse_uri
from stream_app.lifecycle.artifacts import ArtifactError, open_store
from stream_app.settings import Settings

pytestmark = pytest.mark.integration
MOTO = str(Path(sys.executable).parent / "moto_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def s3_settings(endpoint: str, tmp: Path, **more: object) -> Settings:
    return Settings().with_changes(
        state_dir=tmp / "state",
        artifact_store="s3",
        artifact_s3_bucket="kilowatch-models",
        artifact_s3_endpoint=endpoint,
        artifact_s3_access_key_id="test-key",
        artifact_s3_secret_access_key="test-secret",
        **more,
    )


@pytest.fixture
def settings(endpoint: str, tmp_path: Path) -> Settings:
    s = s3_settings(endpoint, tmp_path)
    store = S3ArtifactStore(s, tmp_path / "setup")
    existing = [b["Name"] for b in store.client.list_buckets().get("Buckets", [])]
    if "kilowatch-models" not in existing:
        store.client.create_bucket(Bucket="kilowatch-models")
    return s


def bundle(tmp: Path, seed: int = 1) -> Path:
    src = tmp / f"bundle-{seed}"
    (src / "model").mkdir(parents=True, exist_ok=True)
    (src / "metadata.json").write_text(f'{{"seed": {seed}}}')
    (src / "model" / "model.pkl").write_bytes(bytes((i * seed) % 256 for i in range(100_000)))
    return src


def test_round_trip_between_two_hosts(settings: Settings, tmp_path: Path) -> None:
    writer = open_store(settings)
    assert not writer.transactional
    src = bundle(tmp_path)
    uri = writer.put_dir(src, "plant-1")
    bucket, key, digest = parse_uri(uri)
    assert bucket == "kilowatch-models" and key.startswith("plant-1/") and digest == tree_digest(src)
    assert "test-secret" not in uri and "test-key" not in uri and "127.0.0.1" not in uri
    other_host = S3ArtifactStore(settings, tmp_path / "host-b")
    got = other_host.get_dir(uri)
    assert got.is_relative_to(tmp_path / "host-b") and tree_digest(got) == digest
    writer.delete(uri)
    writer.delete(uri)  # idempotent
    with pytest.raises(ArtifactError, match="does not exist"):
        S3ArtifactStore(settings, tmp_path / "host-c").get_dir(uri)


def test_a_changed_object_is_refused(settings: Settings, tmp_path: Path) -> None:
    store = S3ArtifactStore(settings, tmp_path / "a")
    uri = store.put_dir(bundle(tmp_path), "plant-1")
    bucket, key, digest = parse_uri(uri)
    store.client.put_object(Bucket=bucket, Key=key, Body=pack(bundle(tmp_path, 7), 1 << 30).archive)
    with pytest.raises(
        ArtifactError, match=f"is corrupt: its content has sha256 .*, the registry expects {digest}"
    ):
        S3ArtifactStore(settings, tmp_path / "b").get_dir(uri)


def test_size_bound(endpoint: str, settings: Settings, tmp_path: Path) -> None:
    uri = S3ArtifactStore(settings, tmp_path / "a").put_dir(bundle(tmp_path), "p")
    small = S3ArtifactStore(s3_settings(endpoint, tmp_path, artifact_max_bytes=10_000), tmp_path / "b")
    with pytest.raises(ArtifactError, match="limit of 10000 bytes"):
        small.get_dir(uri)
    with pytest.raises(ArtifactError, match="over the store's limit of 10000"):
        small.put_dir(bundle(tmp_path), "p")


def test_every_store_reads_s3_uris_when_a_bucket_is_set(settings: Settings, tmp_path: Path) -> None:
    uri = open_store(settings).put_dir(bundle(tmp_path), "p")
    pg_default = open_store(settings.with_changes(artifact_store="postgres"))
    assert tree_digest(pg_default.get_dir(uri)) == parse_uri(uri)[2]
