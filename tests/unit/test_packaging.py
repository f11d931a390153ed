"""A wheel carries what the installed service reads at run time: the SQL migrations behind
`kilowatch db upgrade` (a pip or Docker install had no database schema) and the generated schemas."""

from __future__ import annotations

import ast
import asyncio
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata as importlib_metadata
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


def build_wheel(tmp_path: Path) -> Path:
    """The kilowatch wheel, built as `pip wheel .` builds it, from a copy of the tree (setuptools would
    reuse a build/ folder left in the working tree)."""
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
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_every_migration_and_generated_schema(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sql_files = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert sql_files, "no migrations found in the source tree"
    for name in sql_files:
        assert f"stream_app/store/migrations/{name}" in names, name
    generated = sorted(p.name for p in (ROOT / "schemas" / "generated").iterdir())
    for name in generated:
        assert f"schemas/generated/{name}" in names, name


PACKAGES = ("stream_app", "agents", "trainers", "schemas", "api")
# Files in the package folders that are notes for developers, not read at run time.
NOT_RUNTIME = {"stream_app/kafka/faust_compat/UPSTREAM.md"}


def test_every_data_file_in_the_packages_is_in_the_wheel(wheel: Path) -> None:
    # Whatever a package folder holds besides Python (SQL, JSON, YAML, templates) is read at run time by
    # path: a file added later without a package-data line would be missing from every pip/Docker install.
    names = set(zipfile.ZipFile(wheel).namelist())
    data = sorted(
        p.relative_to(ROOT).as_posix()
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    )
    assert len(data) > 10, data  # the migrations and generated schemas at least
    missing = [f for f in data if f not in names and f not in NOT_RUNTIME]
    assert not missing, f"not in the wheel (add a [tool.setuptools.package-data] line): {missing}"


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


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution -> files of ours importing it (absolute imports anywhere in a module, lazy ones too)."""
    ours = set(PACKAGES)
    to_dist = importlib_metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in ours or top in sys.stdlib_module_names or top == "__future__":
                        continue
                    for dist in to_dist.get(top, [f"<not installed: {top}>"]):
                        found.setdefault(_norm(dist), set()).add(path.relative_to(ROOT).as_posix())
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, str]:
    """Distribution -> where pyproject.toml declares it (base or an extra; dev is for tests only)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"base": project["dependencies"], **project["optional-dependencies"]}
    out: dict[str, str] = {}
    for group, reqs in groups.items():
        if group == "dev":
            continue
        for req in reqs:
            name = _norm(re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0])
            if name != "kilowatch":
                out.setdefault(name, group)
    return out


# Declared without an import of their own: a reason each (what needs them at run time).
DECLARED_NOT_IMPORTED = {
    "rocksdict": "faust's rocksdb:// table store (worker.store) loads it",
    "python-multipart": "FastAPI's File/Form parameters (POST /datasets uploads) parse bodies with it",
}


def test_what_the_code_imports_is_declared_and_what_is_declared_is_used() -> None:
    # aiohttp was imported but not declared, river declared where nothing imported it (issue 15).
    imported, declared = _imported_distributions(), _declared()
    undeclared = {d: sorted(files)[:3] for d, files in imported.items() if d not in declared}
    assert not undeclared, f"imported but not in pyproject.toml dependencies or extras: {undeclared}"
    unused = sorted(d for d in declared if d not in imported and d not in DECLARED_NOT_IMPORTED)
    assert not unused, f"declared but imported nowhere in {PACKAGES}: {unused}"


def test_the_wheel_carries_the_license_it_declares(wheel: Path) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS" in text
    zf = zipfile.ZipFile(wheel)
    (license_file,) = [n for n in zf.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert zf.read(license_file).decode() == text
    metadata = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
