"""Artifact store on a temp folder, file URL policy, request -> TrainSpec mapping, event building."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_app.lifecycle.artifacts import ArtifactError, LocalArtifactStore
from stream_app.lifecycle.datasource import DataSourceError, describe, resolve_file
from stream_app.lifecycle.service import spec_kwargs


def test_local_store_round_trip_and_confinement(tmp_path: Path) -> None:
    src = tmp_path / "bundle"
    src.mkdir()
    (src / "metadata.json").write_text("{}")
    store = LocalArtifactStore(tmp_path / "store")
    uri1, uri2 = store.put_dir(src, "asset-1"), store.put_dir(src, "asset-1")
    assert uri1 != uri2 and uri1.startswith("file://")
    got = store.get_dir(uri1)
    assert (got / "metadata.json").read_text() == "{}"
    assert got.parent == (tmp_path / "store" / "asset-1").resolve()
    store.delete(uri1)
    with pytest.raises(ArtifactError, match="does not exist"):
        store.get_dir(uri1)
    store.delete(uri1)  # idempotent
    with pytest.raises(ArtifactError, match="outside the store root"):
        store.get_dir((tmp_path / "bundle").as_uri())
    with pytest.raises(ArtifactError, match="outside the store root"):
        store.put_dir(src, "../escape")
    with pytest.raises(ArtifactError, match="expected file://"):
        store.get_dir("s3://bucket/x")
    assert not list((tmp_path / "store").rglob(".*.tmp"))


def test_file_urls_only_under_allowed_roots(tmp_path: Path) -> None:
    inside = tmp_path / "data" / "x.csv"
    assert resolve_file(inside.as_uri(), (tmp_path / "data",)) == inside.resolve()
    with pytest.raises(DataSourceError, match="outside the allowed data folders"):
        resolve_file((tmp_path / "data" / ".." / "secret.csv").as_uri(), (tmp_path / "data",))
    with pytest.raises(DataSourceError, match="with a host"):
        resolve_file("file://otherhost/x.csv", (tmp_path,))


def test_describe_hides_credentials_and_queries() -> None:
    assert describe("https://user:pw@example.com/d.csv?token=abc") == "https://example.com/d.csv"
    assert describe(None) == "the asset's readings history"


def test_spec_kwargs_splits_spec_fields_from_model_params() -> None:
    got = spec_kwargs("lightgbm", {"horizon": 48, "seed": 3, "num_leaves": 31})
    assert got == {"model_type": "lightgbm", "horizon": 48, "seed": 3, "params": {"num_leaves": 31}}
