"""Text and Markdown output of the NAB harness: the console tables of ``kilowatch evaluate`` and the
results document ``docs/detector-results.md`` (``kilowatch evaluate ... --report FILE``;
``scripts/nab-report`` regenerates the committed one)."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stream_app.evaluation.categories import NO_ANOMALY, CategoryResult, ProfileEvaluation
from stream_app.evaluation.harness import MAX_JOBS, Evaluation, NabCorpus
from stream_app.evaluation.loco import LocoRun
from stream_app.evaluation.nab import PROBATION
from stream_app.evaluation.river_baselines import river_version

# Published NAB standard-profile scores on the same 35 files, recomputed from NAB's per-file results
# (../shared/data/README.md). Those detectors were given each file's min and max up front.
PUBLISHED_CORPUS = {
    "ARTime": 77.21,
    "CAD OSE": 69.06,
    "Numenta HTM": 68.85,
    "earthgecko Skyline": 59.58,
    "KNN CAD": 57.94,
    "windowed Gaussian": 45.58,
}
PUBLISHED_CATEGORY = {  # category -> detector -> standard score
    "realKnownCause": {"ARTime": 63.88, "Numenta HTM": 55.47, "CAD OSE": 41.75, "windowed Gaussian": 13.36},
    "realAdExchange": {"ARTime": 75.12, "Numenta HTM": 76.86, "CAD OSE": 72.02, "windowed Gaussian": 56.90},
    "realTraffic": {"ARTime": 86.86, "Numenta HTM": 82.51, "CAD OSE": 91.17, "windowed Gaussian": 64.28},
    "realTweets": {"ARTime": 81.84, "Numenta HTM": 68.02, "CAD OSE": 74.48, "windowed Gaussian": 51.41},
}
PUBLISHED_DETECTORS = ("ARTime", "Numenta HTM", "CAD OSE", "windowed Gaussian")


def source_revision() -> str:
    """The commit the detector was run from, and whether ``stream_app/core`` had uncommitted changes
    (``KILOWATCH_SOURCE_REVISION`` overrides it, for a run from an exported tree)."""
    override = os.environ.get("KILOWATCH_SOURCE_REVISION")
    if override:
        return override
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "stream_app/core"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"`{head}`" + (" plus uncommitted changes in `stream_app/core`" if dirty else "")


def _n(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _cat_cells(c: CategoryResult) -> tuple[str, str]:
    if c.windows == 0:
        return "n/a", "n/a"
    return _n(c.own_normalized), _n(c.at_corpus_normalized)


# ----------------------------------------------------------------------------------------------
# console


def format_evaluation(ev: Evaluation, corpus: NabCorpus, per_file: bool = True) -> str:
    wall = f"{ev.wall_seconds:.1f} s wall, " if ev.wall_seconds else ""
    lines = [
        f"{ev.spec.describe()}",
        f"{len(corpus.keys)} files, {corpus.readings:,} readings; detect {wall}"
        f"{ev.detect_seconds:.1f} s summed over files (at most {MAX_JOBS} processes)",
    ]
    for pe in ev.profiles:
        c = pe.corpus
        lines += [
            "",
            f"{pe.profile}: corpus {c.normalized:.2f} (threshold {c.threshold:.6f}, raw {c.raw:.3f}, "
            f"null {c.null:.1f}, perfect {c.perfect:.1f})",
            f"  {'category':<22}{'files':>5}{'windows':>8}{'own thr':>9}{'at corpus thr':>14}"
            f"{'hit':>8}{'FPs':>7}{'detections':>11}",
        ]
        for cat in pe.categories:
            own, at = _cat_cells(cat)
            lines.append(
                f"  {cat.category:<22}{cat.files:>5}{cat.windows:>8}{own:>9}{at:>14}"
                f"{f'{cat.windows_hit}/{cat.windows}':>8}{cat.false_positives:>7}{cat.detections:>11}"
                + ("   <- every detection is a false alarm" if cat.windows == 0 else "")
            )
    if per_file:
        std = "standard" if "standard" in ev.files else next(iter(ev.files))
        lines += [
            "",
            f"per file ({std}, at the corpus threshold; flagged = at the detector's own threshold):",
            f"  {'file':<56}{'rows':>7}{'flagged':>8}{'detect':>7}{'FPs':>5}{'hit':>6}{'raw':>8}{'sec':>6}",
        ]
        for fr in ev.files[std]:
            r = fr.result
            lines.append(
                f"  {r.name:<56}{fr.rows:>7}{fr.run.flagged:>8}{r.detections:>7}{r.false_positives:>5}"
                f"{f'{r.detected_windows}/{r.windows}':>6}{r.score:>8.3f}{fr.run.seconds:>6.1f}"
            )
            if fr.run.error:
                lines.append(f"    ERROR: {fr.run.error} (scored as no detections)")
    for run in ev.errors:
        lines.append(f"ERROR {run.key}: {run.error}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Markdown


def render_results(
    evaluations: Sequence[Evaluation],
    corpus: NabCorpus,
    loco: LocoRun | None,
    command: Sequence[str] | None,
    today: dt.date | None = None,
) -> str:
    today = today or dt.datetime.now(dt.UTC).date()
    cats = [c.category for c in evaluations[0].profiles[0].categories]
    scored_cats = [c for c in cats if c != NO_ANOMALY]
    main = evaluations[0]
    lines = [
        f"# Detector results on the NAB corpus ({today.isoformat()})",
        "",
        f"Generated {today.isoformat()} by `{shlex.join(command) if command else 'kilowatch evaluate'}` "
        f"({len(corpus.keys)} labelled files, {corpus.readings:,} readings, categories: {', '.join(cats)}). "
        "Regenerate with `scripts/nab-report`.",
        "",
        f"- kilowatch: {main.spec.describe()}; detector source {source_revision()}.",
        f"- river {river_version()} baselines: settings in `stream_app/evaluation/river_baselines.py`.",
        "- Every detector runs **causally**, one pass per file, from a fresh state; NAB v1.1 scoring "
        "(probation of 15 % / at most 750 rows, one threshold per profile swept over the corpus).",
        "- Per category, two numbers: **own thr** = NAB scoring restricted to the category's files with "
        "its own optimal threshold (as the published per-category figures below); **at corpus thr** = the "
        "category's files at the threshold chosen over all files (one setting for everything), normalised "
        "with the category's own null and perfect scores.",
        "- `artificialNoAnomaly` has no windows, so a normalised score is undefined there: its detections "
        "after probation at the corpus threshold are counted instead (every one is a false alarm).",
        "- A file on which a detector raised is listed under *Failures* and scored as *no detections*.",
        "",
    ]
    # --- summary
    header = "| detector | corpus | " + " | ".join(scored_cats) + f" | {NO_ANOMALY} detections | failures |"
    lines += [
        "## Standard profile: overall and per category",
        "",
        "Per-category cells are *own thr / at corpus thr*.",
        "",
        header,
        "|---|---:|" + "---:|" * len(scored_cats) + "---:|---:|",
    ]
    for ev in evaluations:
        pe = ev.profile("standard") if any(p.profile == "standard" for p in ev.profiles) else ev.profiles[0]
        cells = []
        for name in scored_cats:
            own, at = _cat_cells(pe.category(name))
            cells.append(f"{own} / {at}")
        na = pe.category(NO_ANOMALY).detections if NO_ANOMALY in cats else 0
        lines.append(
            f"| {ev.spec.label} | **{pe.corpus.normalized:.2f}** | " + " | ".join(cells) + f" | {na} "
            f"| {len(ev.errors)} |"
        )
    best = []
    for name in scored_cats:
        scores = {ev.spec.label: _std(ev).category(name).own_normalized or 0.0 for ev in evaluations}
        winner = max(scores, key=lambda k: scores[k])
        best.append(f"{name}: {winner} ({scores[winner]:.2f})")
    lines += ["", "Best of these per category (own threshold): " + "; ".join(best) + "."]
    ties = []
    for ev in evaluations:
        top_score, n_top, n_rows = _top_ties(ev, corpus)
        if n_rows and n_top > 0.001 * n_rows:
            ties.append(f"{ev.spec.label} ({n_top:,} scored rows at its top score {top_score:.6g})")
    if ties:
        lines += [
            "",
            "Saturated scores: "
            + "; ".join(ties)
            + ". NAB's one threshold cannot separate rows that share a score, so a detector whose output "
            "saturates on many rows (a binary drift signal, a CDF that rounds to 1.0) is limited by its "
            "worst file at that score.",
        ]
    lines += [
        "",
        "Published NAB standard-profile scores on the same files (recomputed from NAB's per-file results; "
        "per category with each category's own threshold). **These detectors were given each file's "
        "minimum and maximum before its first record** (`nab/detectors/base.py` sets `inputMin`/`inputMax` "
        "from the whole file); kilowatch and the river baselines are causal and were not.",
        "",
        "| detector | corpus | " + " | ".join(scored_cats) + " |",
        "|---|---:|" + "---:|" * len(scored_cats),
    ]
    for name, score in PUBLISHED_CORPUS.items():
        cells = [_n(PUBLISHED_CATEGORY.get(c, {}).get(name)) for c in scored_cats]
        lines.append(f"| {name} | {score:.2f} | " + " | ".join(cells) + " |")
    # --- all profiles
    lines += ["", "## All profiles", ""]
    lines += [
        "| detector | profile | corpus | threshold | " + " | ".join(scored_cats) + f" | {NO_ANOMALY} det. |",
        "|---|---|---:|---:|" + "---:|" * len(scored_cats) + "---:|",
    ]
    for ev in evaluations:
        for pe in ev.profiles:
            cells = [" / ".join(_cat_cells(pe.category(c))) for c in scored_cats]
            na = pe.category(NO_ANOMALY).detections if NO_ANOMALY in cats else 0
            lines.append(
                f"| {ev.spec.label} | {pe.profile} | {pe.corpus.normalized:.2f} "
                f"| {pe.corpus.threshold:.6g} | " + " | ".join(cells) + f" | {na} |"
            )
    # --- per category detail of each detector (standard)
    lines += ["", "## Per category (standard profile, at the corpus threshold)", ""]
    lines += [
        "| detector | category | files | windows hit | FPs | detections |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for ev in evaluations:
        pe = ev.profile("standard") if any(p.profile == "standard" for p in ev.profiles) else ev.profiles[0]
        for c in pe.categories:
            lines.append(
                f"| {ev.spec.label} | {c.category} | {c.files} | {c.windows_hit}/{c.windows} "
                f"| {c.false_positives} | {c.detections} |"
            )
    # --- artificialNoAnomaly
    if NO_ANOMALY in cats:
        art = [k for k in corpus.keys if k.startswith(NO_ANOMALY)]
        lines += [
            "",
            f"## {NO_ANOMALY}: detections after probation at the corpus threshold (standard profile)",
            "",
            "| detector | " + " | ".join(k.split("/")[-1] for k in art) + " |",
            "|---|" + "---:|" * len(art),
        ]
        for ev in evaluations:
            rows = {fr.result.name: fr for fr in ev.files.get("standard", next(iter(ev.files.values())))}
            cells = []
            for k in corpus.keys:
                if k.startswith(NO_ANOMALY):
                    fr = rows[k]
                    cells.append("error" if fr.run.error else str(fr.result.detections))
            lines.append(f"| {ev.spec.label} | " + " | ".join(cells) + " |")
    # --- LOCO
    if loco is not None:
        lines += _loco_section(loco)
    # --- failures
    failures = [(ev.spec.label, r.key, r.error) for ev in evaluations for r in ev.errors]
    if loco is not None:
        failures += list(loco.errors)
    lines += ["", "## Failures", ""]
    if failures:
        lines += ["| detector | file | error |", "|---|---|---|"]
        lines += [f"| {d} | {k} | `{e}` |" for d, k, e in failures]
    else:
        lines.append("None: every detector scored every file.")
    # --- timing
    lines += ["", "## Cost", "", "| detector | detect, wall s | detect, summed over files s |"]
    lines.append("|---|---:|---:|")
    for ev in evaluations:
        lines.append(f"| {ev.spec.label} | {_n(ev.wall_seconds, 1)} | {ev.detect_seconds:.1f} |")
    if loco is not None:
        lines.append(
            f"| LOCO sweep ({len(loco.specs)} candidates) | {loco.detect_wall:.1f} | "
            f"(scoring {loco.score_wall:.1f} s) |"
        )
    lines.append("")
    lines.append(f"Wall times with at most {MAX_JOBS} processes on a shared two-core machine.")
    # --- per file
    lines += ["", "## Per file (standard profile, at the corpus threshold)", ""]
    for ev in evaluations:
        file_rows = ev.files.get("standard", next(iter(ev.files.values())))
        lines += [
            f"### {ev.spec.label}",
            "",
            "| file | rows | flagged (own threshold) | detections | FPs | windows hit | raw | error |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for fr in file_rows:
            r = fr.result
            lines.append(
                f"| {r.name} | {fr.rows} | {fr.run.flagged} | {r.detections} | {r.false_positives} "
                f"| {r.detected_windows}/{r.windows} | {r.score:.3f} | {fr.run.error or ''} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _std(ev: Evaluation) -> ProfileEvaluation:
    return ev.profile("standard") if any(p.profile == "standard" for p in ev.profiles) else ev.profiles[0]


def _top_ties(ev: Evaluation, corpus: NabCorpus) -> tuple[float, int, int]:
    """The detector's highest score, how many rows after probation have it, and how many rows there are."""
    rows = next(iter(ev.files.values()))
    scores = [corpus.scored(fr.run.key, "standard", fr.run.scores) for fr in rows]
    kept = [f.scores[f.window_of != PROBATION] for f in scores]
    allv = np.concatenate(kept) if kept else np.zeros(0)
    if not len(allv):
        return 0.0, 0, 0
    top = float(allv.max())
    return top, int((allv == top).sum()) if top > 0 else 0, len(allv)


def _loco_section(loco: LocoRun) -> list[str]:
    r = loco.result
    lines = [
        "",
        "## Leave-one-category-out (LOCO) choice of constants",
        "",
        "For each held-out category the candidate with the best standard score on the *other* categories "
        f"(including {NO_ANOMALY}, whose detections cost FP weight) is chosen; the held-out category is then "
        "scored at that choice, with its own threshold and at the threshold chosen on the training "
        "categories. *Oracle* is the candidate that would have been best on the held-out category itself "
        "(for comparison; not a choice anyone could make). On a tie the first candidate in the list wins. "
        "Module constants are swept by rebinding the module attribute during the run (`harness.patched`).",
        "",
        "Candidates: " + "; ".join(f"`{s.label}`" for s in loco.specs) + ".",
        "",
        "| held out | chosen on the others | training score | held-out own thr | held-out at training thr "
        "| oracle on held-out |",
        "|---|---|---:|---:|---:|---|",
    ]
    for f in r.folds:
        train = dict(f.train_scores)[f.chosen]
        if f.held_out_own is None:
            own, at = "n/a", f"{f.held_out_detections} detections"
            oracle = f"`{f.best_held_out}` ({f.best_held_out_score:.0f} detections)"
        else:
            own, at = _n(f.held_out_own), _n(f.held_out_at_train)
            oracle = f"`{f.best_held_out}` ({_n(f.best_held_out_score)})"
        lines.append(f"| {f.held_out} | `{f.chosen}` | {train:.2f} | {own} | {at} | {oracle} |")
    lines += [
        "",
        f"LOCO corpus score (each category's files scored with the candidate chosen without it): "
        f"**{r.loco_corpus:.2f}**; the folds {'agree' if r.agreed else 'do not agree'} on one candidate.",
        "",
        "Every candidate on the whole corpus and per category (standard, own threshold):",
        "",
        "| candidate | corpus | " + " | ".join(c for c in r.categories if c != NO_ANOMALY) + " |",
        "|---|---:|" + "---:|" * sum(c != NO_ANOMALY for c in r.categories),
    ]
    per = dict(r.per_category)
    for lab, score in r.corpus:
        cells = [_n(v) for c, v in per[lab] if c != NO_ANOMALY]
        lines.append(f"| `{lab}` | {score:.2f} | " + " | ".join(cells) + " |")
    if loco.identical:
        lines += ["", "**Every candidate produced identical scores: the swept knob had no effect.**"]
    lines += [f"\nNote: {w}" for w in loco.warnings]
    return lines
