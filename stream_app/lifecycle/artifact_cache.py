"""This host's copies of stored bundles: one folder per (id, checksum), filled once, checked on every use.

A copy is downloaded and unpacked into a hidden staging folder, its checksum verified, then renamed into
place (``<root>/<id>-<sha256[:16]>``): a reader sees a complete, verified folder or none. A per-key lock
file (``flock``) makes concurrent first loads — threads or processes of this host — download once; the
others wait and use the copy. Every use re-checks the copy's checksum (a few ms for a LightGBM bundle):
a copy changed on disk is refused with :class:`ArtifactError` and removed, so the next load fetches it
again from the store.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from stream_app.lifecycle.artifact_bundle import ArtifactError, tree_digest, unpack

log = logging.getLogger(__name__)

# Gives the archive of a bundle (bytes), its checksum as the store recorded it and the store's size limit.
Fetch = Callable[[], bytes]


class BundleCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes

    def folder(self, key: str, sha256: str) -> Path:
        return self.root / f"{key}-{sha256[:16]}"

    def get(self, key: str, sha256: str, fetch: Fetch, label: str) -> Path:
        """The verified local folder of bundle ``key`` with content checksum ``sha256``; ``fetch`` gives
        its archive when this host has no copy yet. ``label`` names the bundle in errors."""
        final = self.folder(key, sha256)
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f".{final.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if final.is_dir():
                self._verify(final, sha256, label, cached=True)
                return final
            staging = self.root / f".{final.name}.{uuid.uuid4().hex}.tmp"
            staging.mkdir()
            try:
                unpack(fetch(), staging, self.max_bytes)
                self._verify(staging, sha256, label, cached=False)
                staging.rename(final)
            finally:
                if staging.exists():
                    shutil.rmtree(staging)
            return final

    def discard(self, key: str, sha256: str) -> None:
        shutil.rmtree(self.folder(key, sha256), ignore_errors=True)

    def _verify(self, folder: Path, sha256: str, label: str, *, cached: bool) -> None:
        actual = tree_digest(folder)
        if actual == sha256:
            return
        if cached:
            shutil.rmtree(folder)
            log.error("cached copy of bundle %s was changed on disk: removed (fetched again later)", label)
            raise ArtifactError(
                f"bundle {label}: the cached copy at {folder} does not match its checksum "
                f"(sha256 {actual}, expected {sha256}); refused and removed, the next load fetches it again"
            )
        raise ArtifactError(
            f"bundle {label} is corrupt: its content has sha256 {actual}, the registry expects {sha256}; "
            "refused"
        )
