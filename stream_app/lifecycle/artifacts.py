"""Artifact store: where model bundles live. An interface, with the local filesystem as default.

To add an S3-compatible backend, implement :class:`ArtifactStore` (``put_dir`` uploads every file of a
bundle under a fresh prefix and returns ``s3://bucket/prefix``; ``get_dir`` downloads it once into a
local cache folder and returns that path; ``delete`` removes the prefix) and return it from
:func:`open_store` for its URI scheme. Callers only ever see URIs and local folders.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from schemas.errors import KilowatchError
from stream_app.settings import Settings


class ArtifactError(KilowatchError):
    """An artifact URI is malformed, outside the store, or missing."""


class ArtifactStore(Protocol):
    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        """Store a bundle folder; returns its URI (a new, unique location every call)."""
        ...

    def get_dir(self, uri: str) -> Path:
        """A local folder holding the bundle of ``uri`` (read it, do not modify it)."""
        ...

    def delete(self, uri: str) -> None:
        """Remove a bundle; a missing one is not an error (deletes may be retried)."""
        ...


class LocalArtifactStore:
    """Bundles as folders under ``root``: ``<root>/<prefix>/<uuid>``; URIs are ``file://`` paths."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        if not local_dir.is_dir():
            raise ArtifactError(f"artifact source {local_dir} is not a folder")
        parent = (self.root / prefix).resolve() if prefix else self.root
        self._inside(parent)
        parent.mkdir(parents=True, exist_ok=True)
        final = parent / uuid.uuid4().hex
        staging = parent / f".{final.name}.tmp"
        shutil.copytree(local_dir, staging)
        staging.rename(final)  # readers never see a half-copied bundle
        return final.as_uri()

    def get_dir(self, uri: str) -> Path:
        path = self._path(uri)
        if not path.is_dir():
            raise ArtifactError(f"artifact {uri} does not exist")
        return path

    def delete(self, uri: str) -> None:
        shutil.rmtree(self._path(uri), ignore_errors=True)

    def _path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise ArtifactError(f"local artifact store cannot read {uri!r} (expected file://)")
        path = Path(unquote(parsed.path)).resolve()
        self._inside(path)
        if path == self.root:
            raise ArtifactError("artifact URI names the store root itself")
        return path

    def _inside(self, path: Path) -> None:
        if not path.is_relative_to(self.root):
            raise ArtifactError(f"artifact path {path} is outside the store root {self.root}")


def open_store(settings: Settings) -> ArtifactStore:
    """The configured store (the local filesystem today)."""
    return LocalArtifactStore(settings.training.artifact_root)
