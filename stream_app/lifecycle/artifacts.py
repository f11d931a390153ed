"""Artifact store: where model bundles live. An interface; PostgreSQL by default, a local folder as option.

``training.artifact_store`` picks the store:

* ``postgres`` (default, :mod:`stream_app.lifecycle.artifact_pg`): bundles in the ``artifacts`` table of the
  database every process already reaches, so a model trained by one worker is served by every worker and
  the API, on any host; each host keeps a verified local copy (:mod:`stream_app.lifecycle.artifact_cache`).
  A registered version and its bundle commit in one transaction.
* ``s3``: an S3-compatible bucket (:mod:`stream_app.lifecycle.artifact_s3`, the ``s3`` extra); shared
  like PostgreSQL, but not in the registry's transaction (uploaded first, deleted if registration fails).
* ``file``: folders under ``training.artifact_root`` (single host, development): shared only by processes
  that see the same folder.

Every bundle carries the SHA-256 of its content in its URI (``?sha256=``,
:mod:`stream_app.lifecycle.artifact_bundle`); it is checked whenever a bundle is loaded and a mismatch is
refused with :class:`ArtifactError`. Callers only ever see URIs and local folders.

To add a backend, implement :class:`ArtifactStore` and return it from
:func:`open_store` for its setting.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

import asyncpg

from stream_app.lifecycle.artifact_bundle import ArtifactError, Prepared, check_sha256, tree_digest
from stream_app.lifecycle.artifact_pg import PostgresArtifactStore
from stream_app.lifecycle.artifact_s3 import S3ArtifactStore
from stream_app.settings import Settings

__all__ = [
    "ArtifactError",
    "ArtifactStore",
    "LocalArtifactStore",
    "Prepared",
    "RoutedStore",
    "cache_dir",
    "open_store",
]


class ArtifactStore(Protocol):
    # True: ``commit`` writes the bundle in the caller's transaction (a rollback removes it; nothing to
    # clean up). False: ``prepare`` already stored it; the caller deletes it when registration fails.
    transactional: bool

    def prepare(self, local_dir: Path, prefix: str = "") -> Prepared:
        """Blocking: make a bundle ready to commit (its URI is final). Run it off the event loop."""
        ...

    async def commit(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        """Write a prepared bundle as part of ``conn``'s open transaction."""
        ...

    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        """Blocking: store a bundle folder; returns its URI (a new, unique location every call)."""
        ...

    def get_dir(self, uri: str) -> Path:
        """Blocking: a local folder holding the verified bundle of ``uri`` (read it, do not modify it)."""
        ...

    def delete(self, uri: str) -> None:
        """Blocking: remove a bundle; a missing one is not an error (deletes may be retried)."""
        ...


class LocalArtifactStore:
    """Bundles as folders under ``root``: ``<root>/<prefix>/<uuid>``; URIs are ``file://`` paths with the
    content checksum as ``?sha256=`` (URIs written before checksums existed are read unchecked)."""

    transactional = False

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()  # made by the first put_dir

    def prepare(self, local_dir: Path, prefix: str = "") -> Prepared:
        return Prepared(self.put_dir(local_dir, prefix), prefix)

    async def commit(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        """Nothing to write: ``prepare`` stored the folder."""

    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        if not local_dir.is_dir():
            raise ArtifactError(f"artifact source {local_dir} is not a folder")
        parent = (self.root / prefix).resolve() if prefix else self.root
        self._inside(parent)
        parent.mkdir(parents=True, exist_ok=True)
        final = parent / uuid.uuid4().hex
        staging = parent / f".{final.name}.tmp"
        shutil.copytree(local_dir, staging, symlinks=True)
        digest = tree_digest(staging)  # refuses links
        staging.rename(final)  # readers never see a half-copied bundle
        return f"{final.as_uri()}?sha256={digest}"

    def get_dir(self, uri: str) -> Path:
        path, expected = self._path(uri)
        if not path.is_dir():
            raise ArtifactError(f"artifact {uri} does not exist")
        if expected is not None:
            actual = tree_digest(path)
            if actual != expected:
                raise ArtifactError(
                    f"bundle {uri} is corrupt: its content has sha256 {actual}, the registry expects "
                    f"{expected}; refused"
                )
        return path

    def delete(self, uri: str) -> None:
        shutil.rmtree(self._path(uri)[0], ignore_errors=True)

    def _path(self, uri: str) -> tuple[Path, str | None]:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise ArtifactError(f"local artifact store cannot read {uri!r} (expected file://)")
        path = Path(unquote(parsed.path)).resolve()
        self._inside(path)
        if path == self.root:
            raise ArtifactError("artifact URI names the store root itself")
        sums = parse_qs(parsed.query).get("sha256")
        if sums is None:
            return path, None
        if len(sums) != 1:
            raise ArtifactError(f"artifact URI {uri!r} carries more than one checksum")
        return path, check_sha256(sums[0], f"checksum of {uri!r}")

    def _inside(self, path: Path) -> None:
        if not path.is_relative_to(self.root):
            raise ArtifactError(f"artifact path {path} is outside the store root {self.root}")


def cache_dir(settings: Settings) -> Path:
    """This host's folder of downloaded bundles."""
    configured = settings.training.artifact_cache_dir
    return configured if configured is not None else settings.state_dir / "artifact-cache"


class RoutedStore:
    """Writes to one store; reads and deletes each URI in the store its scheme names. Registry rows written
    before the PostgreSQL store (``file://``) keep loading on the host that holds their folder."""

    def __init__(self, writer: ArtifactStore, readers: dict[str, ArtifactStore]) -> None:
        self.writer = writer
        self.readers = readers
        self.transactional = writer.transactional

    def prepare(self, local_dir: Path, prefix: str = "") -> Prepared:
        return self.writer.prepare(local_dir, prefix)

    async def commit(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        await self.writer.commit(conn, prepared)

    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        return self.writer.put_dir(local_dir, prefix)

    def get_dir(self, uri: str) -> Path:
        return self._reader(uri).get_dir(uri)

    def delete(self, uri: str) -> None:
        self._reader(uri).delete(uri)

    def _reader(self, uri: str) -> ArtifactStore:
        scheme = urlparse(uri).scheme
        reader = self.readers.get(scheme)
        if reader is None:
            raise ArtifactError(f"no artifact store reads {scheme or 'scheme-less'} URIs ({uri!r})")
        return reader


def open_store(settings: Settings) -> ArtifactStore:
    """The configured store (``training.artifact_store``) for new bundles; existing ones are read from
    the store their URI names (``postgres://`` or ``file://``)."""
    readers: dict[str, ArtifactStore] = {
        "file": LocalArtifactStore(settings.training.artifact_root),
        "postgres": PostgresArtifactStore(settings, cache_dir(settings)),
    }
    if settings.training.artifact_store == "s3" or settings.training.artifact_s3_bucket:
        readers["s3"] = S3ArtifactStore(settings, cache_dir(settings))
    kind = settings.training.artifact_store
    return RoutedStore(readers[kind], readers)
