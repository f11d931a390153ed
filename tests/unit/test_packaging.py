"""A wheel carries what the installed service reads at run time: the SQL migrations behind
`kilowatch db upgrade` (a pip or Docker install had no database schema) and the generated schemas."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
