"""Figures of ``kilowatch evaluate --report``: per-file and per-category NAB scores, detection timelines.

Drawn for the standard profile (or the first profile evaluated) with ``stream_app.plots``; returns the
Markdown that links them from the report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stream_app.evaluation.categories import category_of
from stream_app.evaluation.harness import Evaluation, NabCorpus
from stream_app.evaluation.nab import probation_length

TIMELINES = 3  # files drawn in the detection timeline


def _profile(evaluation: Evaluation) -> str:
    names = [p.profile for p in evaluation.profiles]
    return "standard" if "standard" in names else names[0]


def timeline_keys(evaluation: Evaluation, corpus: NabCorpus, count: int = TIMELINES) -> list[str]:
    """A few telling files: the best and the worst scored file that have windows, then the next best."""
    rows = evaluation.files[_profile(evaluation)]
    with_windows = [r for r in rows if r.result.windows > 0]
    ranked = sorted(with_windows, key=lambda r: r.result.score, reverse=True)
    picks = ranked[:1] + ranked[-1:] + ranked[1:-1]
    return list(dict.fromkeys(r.run.key for r in picks))[:count]


def write_figures(evaluations: Sequence[Evaluation], corpus: NabCorpus, report: Path) -> str:
    """Write the PNGs into ``<report stem>_img/`` beside the report; the Markdown section linking them."""
    from stream_app.plots import TimelinePanel, plot_bars, plot_timelines

    folder = report.parent / f"{report.stem}_img"
    first = evaluations[0]
    profile = _profile(first)
    rows = first.files[profile]
    links: list[tuple[str, Path]] = []

    per_file = folder / "nab_per_file.png"
    plot_bars(
        per_file,
        [r.run.key.partition("/")[2] or r.run.key for r in rows],
        {first.spec.name: [r.result.score for r in rows]},
        f"{first.spec.name}: raw NAB score per file ({profile} profile, corpus threshold)",
        "raw NAB score (windows found earn up to 1; each false alarm costs; each missed window costs 1)",
        groups=[category_of(r.run.key) for r in rows],
        notes=[
            f"{r.result.detected_windows}/{r.result.windows} windows, {r.result.false_positives} false alarms"
            for r in rows
        ],
    )
    links.append((f"Raw NAB score per file, {first.spec.name}", per_file))

    per_cat = folder / "nab_per_category.png"
    cats = [c.category for c in first.profile(profile).categories]
    scores: dict[str, list[float | None]] = {}
    for ev in evaluations:
        by_cat = {c.category: c for c in ev.profile(profile).categories}
        scores[ev.spec.name] = [_finite(by_cat[c].at_corpus_normalized) for c in cats]
    first_cats = first.profile(profile).categories
    plot_bars(
        per_cat,
        cats,
        scores,
        f"{', '.join(scores)}: normalized NAB score per category ({profile} profile, corpus threshold)",
        "normalized NAB score (100 = perfect, 0 = no detections)",
        notes=[
            f"{c.windows_hit}/{c.windows} windows, {c.false_positives} false alarms"
            if c.windows
            else f"n/a: no windows; {c.detections} detections, all false alarms"
            for c in first_cats
        ],
    )
    links.append(("Normalized NAB score per category", per_cat))

    threshold = first.profile(profile).corpus.threshold
    panels = []
    by_key = {r.run.key: r for r in rows}
    for key in timeline_keys(first, corpus):
        ser, run = corpus.series[key], by_key[key].run
        probation = math.ceil(probation_length(len(ser.values)))
        detected = np.flatnonzero(run.scores >= threshold)
        detected = detected[detected >= probation]
        panels.append(TimelinePanel(key, ser.epoch, ser.values, corpus.windows[key], detected, probation))
    if panels:
        timeline = folder / "nab_timelines.png"
        plot_timelines(
            timeline,
            panels,
            f"{first.spec.name}: detections at the corpus threshold ({profile} profile) "
            "against labelled windows",
        )
        links.append(
            ("Detections against labelled anomaly windows (best, worst and next best file)", timeline)
        )

    lines = ["## Figures", ""]
    for caption, png in links:
        rel = os.path.relpath(png, report.parent)
        lines += [f"![{caption}]({rel})", "", f"*{caption}.*", ""]
    return "\n".join(lines)


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None
