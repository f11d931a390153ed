"""The training process has a memory limit and dies with its worker (issue 14).

Real processes: a parent runs ``runner.run`` (spawned child training with the test backend) and is
SIGKILLed; its child must be gone within seconds (before, the child trained on as an orphan). A child
allocating past ``child_memory_mb`` ends its job with the fixed out-of-memory error, not a hung job
or a swapping machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stream_app.lifecycle import runner
from stream_app.lifecycle.child_guard import OUT_OF_MEMORY
from tests.integration.harness import ROOT
from tests.integration.test_training_jobs import steel_slice

pytestmark = pytest.mark.integration
__all__ = ["steel_slice"]

PARENT = """
import asyncio, sys
from pathlib import Path
from stream_app.lifecycle import runner

async def main() -> None:
    async def progress(pct: float, msg: str) -> None:
        pass
    async def log(line: str) -> None:
        print("LOG", line, flush=True)
    async def no() -> bool:
        return False
    await runner.run(
        runner.RunRequest(
            backend="tests.integration.lsq_backend", data_path=Path(sys.argv[1]),
            spec_kwargs={"model_type": "lsq", "params": {"stage_sleep_s": 30.0}},
            out_dir=Path(sys.argv[2]), active_dir=None, holdout_fraction=0.2,
            timeout_s=600, grace_s=5, nice=0, memory_mb=2048,
        ),
        progress, log, no,
    )

asyncio.run(main())
"""


def _request(data: Path, out: Path, memory_mb: int, **params: object) -> runner.RunRequest:
    return runner.RunRequest(
        backend="tests.integration.hog_backend",
        data_path=data,
        spec_kwargs={"model_type": "lsq", "params": params},
        out_dir=out,
        active_dir=None,
        holdout_fraction=0.2,
        timeout_s=120,
        grace_s=3,
        nice=0,
        memory_mb=memory_mb,
    )


async def _nothing(*_: object) -> None:
    return None


async def _no() -> bool:
    return False


def test_the_training_child_dies_with_its_parent(steel_slice: Path, tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(steel_slice), str(tmp_path / "out")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while time.monotonic() < deadline and not children:
            time.sleep(0.2)
            assert parent.poll() is None, parent.stdout.read() if parent.stdout else ""
            children = [
                c
                for c in psutil.Process(parent.pid).children(recursive=True)
                if "resource_tracker" not in " ".join(c.cmdline())
            ]
        assert children, "the parent never started its training process"
        time.sleep(3.0)  # the child is training (30 s per stage)
        assert all(c.is_running() for c in children)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _gone, alive = psutil.wait_procs(children, timeout=5.0)
        assert alive == [], f"orphaned training processes: {[c.pid for c in alive]}"
    finally:
        if parent.poll() is None:
            parent.kill()
        for c in psutil.process_iter():
            if c.pid in {ch.pid for ch in children} and c.is_running():
                c.kill()


async def test_a_child_past_its_memory_limit_fails_the_job_with_a_fixed_error(
    steel_slice: Path, tmp_path: Path
) -> None:
    res = await asyncio.wait_for(
        runner.run(_request(steel_slice, tmp_path / "out", 1024, allocate_mb=3072), _nothing, _nothing, _no),
        120,
    )
    assert res.outcome == "failed" and res.error == OUT_OF_MEMORY
    # Under the limit the same training works.
    ok = await asyncio.wait_for(
        runner.run(_request(steel_slice, tmp_path / "out2", 1024, allocate_mb=64), _nothing, _nothing, _no),
        120,
    )
    assert ok.outcome == "ok", ok.error
