"""The API launcher's multi-process folder and the build revision (the real two-process server is in
tests/integration/api/test_metrics_multiprocess.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import prom_multiproc_dir
from stream_app import metrics
from stream_app.settings import Settings

REV = "0123456789abcdef0123456789abcdef01234567"


def test_prepare_removes_value_files_of_an_earlier_run_only(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "counter_17.db").write_bytes(b"x")
    (folder / "gauge_livesum_17.db").write_bytes(b"x")
    (folder / "README").write_text("not ours to delete")
    assert metrics.prepare_multiproc_dir(folder) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["README"]
    assert metrics.prepare_multiproc_dir(tmp_path / "new" / "dir").is_dir()


def test_folder_from_the_environment_else_per_port_for_several_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(state_dir=tmp_path)
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    assert prom_multiproc_dir(settings, 8000, 1) is None
    assert prom_multiproc_dir(settings, 8000, 2) == tmp_path.resolve() / "api-metrics-8000"
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path / "given"))
    assert prom_multiproc_dir(settings, 8000, 1) == tmp_path / "given"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"HEAD": "ref: refs/heads/main\n", "refs/heads/main": REV + "\n"}, REV),
        ({"HEAD": "ref: refs/heads/main\n", "packed-refs": f"# pack\n{REV} refs/heads/main\n"}, REV),
        ({"HEAD": REV + "\n"}, REV),  # detached
        ({"HEAD": "ref: refs/heads/gone\n", "packed-refs": ""}, "unknown"),
        ({}, "unknown"),  # not a checkout (a wheel, an image)
    ],
)
def test_git_revision(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    for name, text in files.items():
        path = tmp_path / ".git" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert metrics.git_revision(tmp_path) == expected
