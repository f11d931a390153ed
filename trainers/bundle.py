"""Artifact bundle: one directory per model version.

Layout: ``metadata.json`` (read first, plain JSON), ``model/`` (darts' own save files), ``detector.json``,
optionally ``autoencoder.json`` + ``autoencoder.pt`` (weights only). darts can only persist models by
pickling (``model.save``); bundles are therefore TRUSTED artifacts written only by our trainers. Before
anything is unpickled, every file's sha256 recorded in metadata.json is verified, the format version, model
type and library major versions are checked, and darts' restricted (safe) unpickler is used.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from trainers import models
from trainers.errors import BundleError

FORMAT_VERSION = 1
# A LightGBM bundle whose target is seasonally differenced (trainers.target_transform): an install that
# reads only format 1 would serve its forecasts of the difference as forecasts of the target, so it
# must refuse it.
FORMAT_VERSION_TRANSFORM = 2
READABLE_FORMATS = (FORMAT_VERSION, FORMAT_VERSION_TRANSFORM)
LIBRARIES = ("darts", "torch", "lightgbm", "numpy", "pandas")


def library_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def libraries_used(meta: dict[str, Any]) -> set[str]:
    """The libraries loading this bundle needs: a LightGBM bundle trained where torch was installed loads
    where it is not (a slim API image serving a model a full worker trained), a TiDE bundle does not."""
    model_type = meta.get("model_type")
    used = {"numpy", "pandas"}
    if model_type in models.DARTS_TYPES:
        used.add("darts")
    if model_type == "lightgbm":
        used.add("lightgbm")
    files = meta.get("files")
    if model_type in models.TORCH_TYPES or (isinstance(files, dict) and "autoencoder.pt" in files):
        used.add("torch")
    return used


def compatible(saved: str, current: str) -> bool:
    """Same major version (same major.minor while major is 0, as semver says 0.x may break anything)."""
    if "missing" in (saved, current):
        return saved == current
    s, c = saved.split("."), current.split(".")
    if s[0] != c[0]:
        return False
    return s[0] != "0" or s[1:2] == c[1:2]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_files(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): sha256(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "metadata.json"
    }


def write_metadata(directory: Path, metadata: dict[str, Any]) -> None:
    meta = dict(metadata, files=record_files(directory))
    (directory / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))


def read_metadata(directory: Path, known_types: tuple[str, ...]) -> dict[str, Any]:
    """Parse and check metadata.json and the files' hashes; nothing is unpickled here."""
    path = Path(directory) / "metadata.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{directory}: cannot read metadata.json: {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{directory}: metadata.json is not an object")
    if meta.get("format_version") not in READABLE_FORMATS:
        raise BundleError(
            f"{directory}: bundle format {meta.get('format_version')!r}, this install reads "
            f"{' and '.join(map(str, READABLE_FORMATS))}"
        )
    if meta.get("model_type") not in known_types:
        raise BundleError(f"{directory}: unknown model type {meta.get('model_type')!r}")
    current = library_versions()
    used = libraries_used(meta)
    for lib, version in (meta.get("library_versions") or {}).items():
        if lib in current and lib in used and not compatible(str(version), current[lib]):
            raise BundleError(f"{directory}: trained with {lib} {version}, this install has {current[lib]}")
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{directory}: metadata.json lists no files")
    for rel, digest in files.items():
        target = (Path(directory) / rel).resolve()
        if Path(directory).resolve() not in target.parents:
            raise BundleError(f"{directory}: file path {rel!r} escapes the bundle")
        if not target.is_file():
            raise BundleError(f"{directory}: missing file {rel}")
        if sha256(target) != digest:
            raise BundleError(f"{directory}: sha256 mismatch for {rel} (modified after training?)")
    return meta
