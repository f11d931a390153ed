"""Machine and software facts for the results header."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from bench.common import KILOWATCH, ROOT


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    status = _run([KILOWATCH, "infra", "status"])
    m = re.search(r"\(Kafka ([0-9.]+)\)", status)
    commit = _run(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
    untracked = bool(
        _run(["git", "ls-files", "--others", "--exclude-standard", "stream_app", "agents", "schemas"])
    )
    import aiokafka
    import confluent_kafka
    import faust

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "kafka": m.group(1) if m else "unknown",
        "faust_streaming": faust.__version__,
        "aiokafka": aiokafka.__version__,
        "confluent_kafka": confluent_kafka.version()[0],
        "commit": commit + (" (+uncommitted changes)" if dirty or untracked else ""),
    }
