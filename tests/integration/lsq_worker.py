"""The setup the training-worker tests share: a worker that trains with the least-squares test backend
(``tests.integration.lsq_backend``), its lease and recovery short, and three weeks of the steel plant's
rows as the training file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from stream_app.settings import Settings
from stream_app.store import migrations
from tests.conftest import DATA_DIR
from tests.integration.harness import ROOT, isolated_settings
from tests.integration.test_retraining_agent import STEEL, db


def lsq_training_worker(tmp_path: Path, job_lease_s: float) -> tuple[Settings, dict[str, str], Path]:
    """Settings and worker env for one test (migrations applied), and ``tmp_path/steel.csv``: the
    first 3 x 7 x 96 rows of the steel plant's data."""
    settings, env = isolated_settings(
        tmp_path,
        training_backend="tests.integration.lsq_backend",
        retrain_default_model="lsq",
        training_lock_ttl_ms=3000,
        job_lease_s=job_lease_s,
        job_recovery_every_s=1.0,
        emit_scores=False,
    )
    env["KILOWATCH_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")
    env["KILOWATCH_DATA_FILE_ROOTS"] = json.dumps([str(tmp_path), str(DATA_DIR)])
    env["PYTHONPATH"] = str(ROOT)
    settings = settings.with_changes(artifact_root=tmp_path / "artifacts")
    db(settings, migrations.upgrade)
    data = tmp_path / "steel.csv"
    pd.read_csv(STEEL, nrows=3 * 7 * 96).to_csv(data, index=False)
    return settings, env, data
