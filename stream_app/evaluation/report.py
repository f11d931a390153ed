"""Markdown report of a NAB evaluation (what ``kilowatch evaluate --report`` writes)."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from stream_app.core.online import OnlineParams
from stream_app.evaluation.nab import CorpusResult

PUBLISHED = {  # standard profile, recomputed from NAB's per-file results on the same 7 files
    "ARTime": 63.88,
    "Numenta HTM": 55.47,
    "KNN CAD": 45.24,
    "CAD OSE": 41.75,
    "windowed Gaussian": 13.36,
}


def render_report(
    results: list[CorpusResult], detector: str, params: OnlineParams, args: argparse.Namespace
) -> str:
    cmd = ["kilowatch", "evaluate", "--results", str(args.results)]
    if args.data is not None:
        cmd += ["--data", str(args.data)]
    cmd += ["--labels", _rel(args.labels), "--report", str(args.report)]
    lines = [
        "# NAB results (realKnownCause)",
        "",
        f"Detector: `{detector}` with `{params}`.",
        "",
        f"Produced by `{shlex.join(cmd)}`",
        "(causal, one pass per file, one threshold per profile over the corpus).",
        "",
        "| profile | normalised score | threshold | raw | null | perfect |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.profile} | **{r.normalized:.2f}** | {r.threshold:.6f} | {r.raw:.3f} "
            f"| {r.null:.1f} | {r.perfect:.1f} |"
        )
    lines += ["", "Published standard-profile scores on the same 7 files:", ""]
    lines += [f"- {name}: {score:.2f}" for name, score in PUBLISHED.items()]
    for r in results:
        lines += [
            "",
            f"## {r.profile}: per file",
            "",
            "| file | raw score | windows detected | false positives | detections |",
            "|---|---:|---:|---:|---:|",
        ]
        for f in r.files:
            lines.append(
                f"| {f.name} | {f.score:.3f} | {f.detected_windows}/{f.windows} "
                f"| {f.false_positives} | {f.detections} |"
            )
    return "\n".join(lines) + "\n"


def _rel(path: Path) -> str:
    """Paths as seen from the working directory, so the command can be rerun from the project root."""
    return os.path.relpath(path) if path.is_absolute() else str(path)
