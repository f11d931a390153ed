"""Unit-test helpers shared across modules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.jobs import JobStatus
from stream_app.store.repository import Job


def job_row(**kw: Any) -> Job:
    """A training job row as the repository returns it: an lsq job of asset ``m-1``, TRAINING at 20 %,
    created 2026-01-01; ``kw`` replaces any column."""
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "asset_id": "m-1",
        "request_id": uuid.uuid4(),
        "model_type": "lsq",
        "params": {"season": 96},
        "data_url": None,
        "status": JobStatus.TRAINING,
        "progress": 20.0,
        "error": None,
        "started_at": None,
        "finished_at": None,
        "cpu_percent": None,
        "peak_rss_mb": None,
        "duration_s": None,
        "result": None,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    base.update(kw)
    return Job(**base)
