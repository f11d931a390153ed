"""A model bundle as stored bytes: its content checksum, and a bounded, safe tar.gz form of its folder.

The checksum of a bundle is the SHA-256 of its sorted file list, one ``<sha256 of file>  <path>`` line per
regular file (paths relative, POSIX, byte-sorted) — what ``LC_ALL=C find . -type f | sort | xargs sha256sum``
prints, hashed. It names the content, not the archive, so a downloaded archive and a cached folder are
checked the same way. Bundles hold regular files and folders only (a link is refused).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from schemas.errors import KilowatchError

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ArtifactError(KilowatchError):
    """An artifact URI is malformed, outside the store, missing, too large, or fails its checksum."""


@dataclass(frozen=True)
class Packed:
    """A bundle folder as one archive, ready to store."""

    sha256: str  # content checksum (see the module docstring)
    size_bytes: int  # sum of the files' sizes
    archive: bytes  # tar.gz of the folder


@dataclass(frozen=True)
class Prepared:
    """A bundle ready to commit: its URI is known before the registry row that names it is written."""

    uri: str
    prefix: str
    packed: Packed | None = None  # None: already in place (a store that does not join transactions)


def _files(folder: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for path in folder.rglob("*"):
        if path.is_symlink():
            raise ArtifactError(f"bundle {folder} holds a link ({path.relative_to(folder)}): not stored")
        if path.is_file():
            out.append((path.relative_to(folder).as_posix(), path))
    return sorted(out, key=lambda item: item[0].encode())


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(folder: Path) -> str:
    """The content checksum of a bundle folder."""
    if not folder.is_dir():
        raise ArtifactError(f"bundle {folder} is not a folder")
    lines = "".join(f"{_file_sha256(path)}  {rel}\n" for rel, path in _files(folder))
    return hashlib.sha256(lines.encode()).hexdigest()


def content_size(folder: Path) -> int:
    return sum(path.stat().st_size for _, path in _files(folder))


def pack(folder: Path, max_bytes: int) -> Packed:
    """The folder as a tar.gz with its checksum; ArtifactError when it is larger than ``max_bytes``."""
    size = content_size(folder)
    if size > max_bytes:
        raise ArtifactError(f"bundle {folder} holds {size} bytes, over the store's limit of {max_bytes}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for rel, path in _files(folder):
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    archive = buf.getvalue()
    if len(archive) > max_bytes:
        raise ArtifactError(f"bundle {folder} packs to {len(archive)} bytes, over the limit of {max_bytes}")
    return Packed(tree_digest(folder), size, archive)


def unpack(archive: bytes, dest: Path, max_bytes: int) -> None:
    """Extract an archive made by :func:`pack` into the empty folder ``dest``: regular files only, no
    path outside ``dest``, at most ``max_bytes`` in all (a damaged or hostile archive is refused)."""
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                name = PurePosixPath(member.name)
                if not (member.isfile() or member.isdir()) or name.is_absolute() or ".." in name.parts:
                    raise ArtifactError(f"archive member {member.name!r} is not a plain file in the bundle")
                total += member.size
                if total > max_bytes:
                    raise ArtifactError(f"archive unpacks to more than the limit of {max_bytes} bytes")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ArtifactError(f"archive is damaged: {type(exc).__name__}: {exc}") from None


def check_sha256(value: str, what: str) -> str:
    if not SHA256_HEX.match(value):
        raise ArtifactError(f"{what}: {value!r} is not a SHA-256 (64 lowercase hex digits)")
    return value
