"""`kilowatch api` takes its process count from the flag, else from KILOWATCH_API_WORKERS."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.cli import register, run_api
from stream_app.metrics import MULTIPROC_ENV
from stream_app.settings import Settings


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["api", *argv])


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    seen: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)

    def run(app: Any, **kw: Any) -> None:
        seen.append((app, {**kw, "multiproc_dir": os.environ.get(MULTIPROC_ENV)}))

    monkeypatch.setattr(uvicorn, "run", run)
    return seen


def test_workers_come_from_the_setting(calls: list[tuple[Any, dict[str, Any]]], tmp_path: Path) -> None:
    run_api(_args([]), Settings(api_workers=2, state_dir=tmp_path))
    app, kw = calls[0]
    assert app == "api.app:app_from_env" and kw["factory"] is True and kw["workers"] == 2
    assert kw["host"] == "127.0.0.1"  # loopback unless told otherwise
    # the workers inherit a metrics folder (multi-process mode); the caller's environment is left as it was
    assert kw["multiproc_dir"] == str(tmp_path.resolve() / "api-metrics-8000")
    assert MULTIPROC_ENV not in os.environ


def test_the_flag_wins_and_one_process_serves_the_app_object(
    calls: list[tuple[Any, dict[str, Any]]],
) -> None:
    run_api(_args(["--workers", "1"]), Settings(api_workers=4))
    app, kw = calls[0]
    assert not isinstance(app, str) and "workers" not in kw
    assert kw["multiproc_dir"] is None  # one process: its own registry, no metrics folder
