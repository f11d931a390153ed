"""A wheel carries what the installed service reads at run time: the SQL migrations behind
`kilowatch db upgrade` (a pip or Docker install had no database schema) and the generated schemas."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

from stream_app.store import migrations
from stream_app.store.migrations import MIGRATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
SKIP = (
    ".git",
    ".venv",
    ".state",
    "build",
    "*.egg-info",
    "__pycache__",
    "node_modules",
    "bench",
    "tests",
    "docs",
)


def test_the_wheel_holds_every_migration_and_generated_schema(tmp_path: Path) -> None:
    # Built from a copy: setuptools would reuse a build/ folder left in the working tree.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*SKIP))
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = out.glob("kilowatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert migrations, "no migrations found in the source tree"
    for name in migrations:
        assert f"stream_app/store/migrations/{name}" in names, name
    generated = sorted(p.name for p in (ROOT / "schemas" / "generated").iterdir())
    for name in generated:
        assert f"schemas/generated/{name}" in names, name


def test_no_migration_files_is_an_error_not_a_current_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wheel without its SQL files used to print "schema is current" and exit 0 (issue 15).
    with pytest.raises(migrations.MigrationError, match=r"no migration files .* install is incomplete"):
        migrations.discover(tmp_path)
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", tmp_path / "missing")
    with pytest.raises(migrations.MigrationError, match="no migration files"):
        # refused before the connection is used (no database needed to find out)
        asyncio.run(migrations.upgrade(cast(Any, None)))
