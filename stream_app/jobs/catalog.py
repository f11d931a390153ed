"""Every job type the runner knows: importing this module registers them (add your module here)."""

from __future__ import annotations

from stream_app.jobs import (
    analytics_jobs,  # noqa: F401 - registers "statistics", "load_patterns", "anomalies", "report"
    preprocess_job,  # noqa: F401 - registers "preprocess"
    registry,
)


def job_types() -> list[str]:
    return registry.names()
