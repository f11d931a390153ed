"""kilowatch installed from its wheel alone (issue 15): `pip install kilowatch-*.whl` into a clean virtualenv,
not editable, run from a folder outside the repository, against the real broker, database and cache.

The new venv gets kilowatch from the wheel (``--no-deps``) and its dependencies from the project venv through
a ``.pth`` line naming that venv's site-packages. A ``.pth`` in a site folder adds the folder to sys.path but
does not run the ``.pth`` files inside it, so the project venv's editable finder (which maps stream_app & co.
to the source tree) never loads: every module of ours comes from the wheel, asserted below. Installing the
~160 dependencies from PyPI instead would take ~10 minutes (docs/deployment.md) for no more coverage of the
packaging, which is what this test is about; the dependency declarations are checked by
tests/unit/test_packaging.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream_app.settings import Settings
from tests.integration.harness import TopicReader, isolated_settings, produce
from tests.unit.test_packaging import build_wheel

OURS = ("stream_app", "agents", "api", "trainers", "schemas")


@dataclass
class Install:
    venv: Path
    site: Path
    home: Path  # the working directory: outside the repository, nothing of ours importable from it

    @property
    def kilowatch(self) -> str:
        return str(self.venv / "bin" / "kilowatch")

    def run(
        self, env: dict[str, str], *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.kilowatch, *args],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"kilowatch {' '.join(args)}: {done.returncode}\n{done.stderr[-3000:]}"
            )
        return done


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """The test's environment without anything that would put the source tree on the path."""
    out = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    out["PYTHONNOUSERSITE"] = "1"
    return out


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    root = tmp_path_factory.mktemp("wheel-install")
    wheel = build_wheel(root / "build")
    target = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    # dependencies from the project venv (read-only use; its editable kilowatch finder is not run)
    (site / "_kilowatch_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(target / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        cwd=root,
    )
    home = root / "home"
    home.mkdir()
    return Install(target, site, home)


def test_modules_come_from_the_wheel_not_the_source_tree(install: Install) -> None:
    code = (
        "import importlib, importlib.metadata as m, json, sys; "
        f"mods = {{n: importlib.import_module(n).__file__ for n in {OURS!r}}}; "
        "print(json.dumps({'files': mods, 'version': m.version('kilowatch'), 'path': sys.path}))"
    )
    done = subprocess.run(
        [str(install.venv / "bin" / "python"), "-c", code],
        env=clean_env(dict(os.environ)),
        cwd=install.home,
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(done.stdout)
    for name, file in info["files"].items():
        assert Path(file).is_relative_to(install.site), f"{name} imported from {file}, not the wheel"
    assert info["version"]
    repo = str(Path(__file__).resolve().parents[2])
    in_tree = [p for p in info["path"] if (p + "/").startswith(repo + "/") and "/.venv/" not in p]
    assert not in_tree, f"the source tree is on the path: {in_tree}"
    shipped = sorted(p.name for p in (install.site / "stream_app" / "store" / "migrations").glob("*.sql"))
    assert shipped and shipped == sorted(
        p.name for p in (Path(repo) / "stream_app" / "store" / "migrations").glob("*.sql")
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service_env(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    settings, env = isolated_settings(tmp_path, trained_models=False, retraining_enabled=False)
    yield settings, clean_env(env)


def _get(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_db_upgrade_key_worker_and_api_from_the_wheel(
    install: Install, service_env: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = service_env
    # The database may be current already (make test upgrades it first): then this also proves that every
    # applied migration's file is in the wheel, unchanged (an applied one without its file is an error).
    install.run(env, "db", "upgrade")
    install.run(env, "db", "status")

    key = install.run(env, "create-api-key", f"wheel-{tmp_path.name}"[:60], "--scope", "read").stdout
    key = key.strip().splitlines()[0]
    assert key.startswith("kw_")

    # A worker from the wheel scores readings on the real broker.
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [install.kilowatch, "worker", "--worker-id", "wheel"],
        env=env,
        cwd=install.home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    port = free_port()
    api_log = (tmp_path / "api.log").open("wb")
    api = subprocess.Popen(
        [install.kilowatch, "api", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=install.home,
        stdout=api_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    scores = TopicReader(settings, "scores")
    try:
        readings = [
            (
                f"wheel-{a}".encode(),
                json.dumps({"timestamp": f"2024-01-01T{h:02d}:00:00Z", "value": 10.0 + h}),
            )
            for h in range(24)
            for a in range(3)
        ]
        deadline = time.monotonic() + 90
        while not _topics_exist(settings) and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.5)
        total = produce(settings, [(k, v.encode()) for k, v in readings])
        got = scores.wait_for(lambda items: len(items) >= total, 120, "every reading scored")
        assert {s["asset_id"] for s in got} == {"wheel-0", "wheel-1", "wheel-2"}

        # The API from the wheel answers an authenticated request, and refuses one without a key.
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert api.poll() is None, (tmp_path / "api.log").read_text()[-3000:]
            try:
                status, _ = _get(f"{base}/healthz", None)
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.3)
        status, body = _get(f"{base}/api/v1/assets", key)
        assert status == 200, body
        assert _get(f"{base}/api/v1/assets", None)[0] == 401
    finally:
        scores.close()
        for proc in (api, worker):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        api_log.close()
        install.run(env, "revoke-api-key", key.split("_")[1], check=False)


def _topics_exist(settings: Settings) -> bool:
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": settings.kafka.bootstrap}).list_topics(timeout=5).topics
    return settings.kafka.topic("readings") in topics


def test_an_install_without_migration_files_fails_db_upgrade_loudly(
    install: Install, service_env: tuple[Settings, dict[str, str]]
) -> None:
    # Runs last in this module: it breaks the install on purpose (a wheel built without package data).
    _settings, env = service_env
    shutil.rmtree(install.site / "stream_app" / "store" / "migrations")
    done = install.run(env, "db", "upgrade", check=False)
    assert done.returncode != 0
    assert "no migration files" in done.stderr and "install is incomplete" in done.stderr
    assert "schema is current" not in done.stdout
