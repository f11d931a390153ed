"""Every kilowatch metric has one unit, named by Prometheus conventions, and a multi-process mode.

Conventions (prometheus.io/docs/practices/naming): base units (seconds, bytes, ratio), the unit or the
counted thing as the last word of the name, ``_total`` on counters, and no label that selects between
quantities of different units (one metric per unit, not a ``metric``/``unit`` label).
"""

from __future__ import annotations

import re

import pytest
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from stream_app import metrics
from stream_app.devtools.metrics_doc import kilowatch_metrics

BASE_UNITS = {"seconds", "bytes", "ratio"}
# Gauges and histograms that count things: the last word names what is counted.
COUNTED = {"readings", "messages", "assets", "keys", "models", "alerts", "streams", "requests"}
# Not a quantity at all, so no unit: an identifier exported as a number; info metrics are always 1.
DIMENSIONLESS = {"kilowatch_active_model_version": "the asset's active version number"}
NON_BASE_UNITS = {
    "ms",
    "millis",
    "milliseconds",
    "us",
    "microseconds",
    "ns",
    "nanoseconds",
    "minutes",
    "hours",
    "days",
    "kb",
    "kib",
    "mb",
    "mib",
    "gb",
    "gib",
    "kilobytes",
    "megabytes",
    "percent",
    "pct",
    "bits",
}
# A label with one of these names picks a quantity (mape vs mae...): the series would mix units.
UNIT_SELECTING_LABELS = {"metric", "unit", "measure", "quantity", "kind_of_error"}


def exported_name(m: MetricWrapperBase) -> str:
    return m._name + ("_total" if m._type == "counter" else "")


def naming_problems(m: MetricWrapperBase) -> list[str]:
    """What is wrong with one metric's name, labels or help text (empty when it follows the rules)."""
    name = exported_name(m)
    problems = []
    words = name.split("_")
    if not name.startswith("kilowatch_"):
        problems.append("not in the kilowatch_ namespace")
    bad_units = NON_BASE_UNITS & set(words)
    if bad_units:
        problems.append(f"non-base unit {sorted(bad_units)} (use seconds, bytes, ratio)")
    if re.search(r"\bper ?cent\b|%", m._documentation, re.IGNORECASE) and "ratio" not in words:
        problems.append("help text speaks of percent but the metric is not a _ratio")
    mixing = UNIT_SELECTING_LABELS & set(m._labelnames)
    if mixing:
        problems.append(f"label {sorted(mixing)} selects quantities of different units: split the metric")
    if m._type == "counter":
        if not name.endswith("_total"):
            problems.append("counter without _total")
    elif name.endswith("_total"):
        problems.append(f"{m._type} named _total (only counters are)")
    elif m._type == "gauge" and words[-1] == "info":
        if m._multiprocess_mode not in {"livemax", "max"}:  # type: ignore[attr-defined]
            problems.append("an info gauge is 1 in every process: multiprocess_mode max/livemax")
    elif name not in DIMENSIONLESS and words[-1] not in BASE_UNITS | COUNTED:
        problems.append(
            f"last word {words[-1]!r} is neither a base unit {sorted(BASE_UNITS)} nor a counted thing "
            f"{sorted(COUNTED)}"
        )
    if m._type == "gauge" and m._multiprocess_mode == "all":  # type: ignore[attr-defined]
        problems.append("gauge without an explicit multiprocess_mode (the default 'all' adds a pid label)")
    return problems


def test_every_registered_metric_follows_the_conventions() -> None:
    declared = kilowatch_metrics()
    assert len(declared) >= 45
    problems = {exported_name(m): naming_problems(m) for m in declared}
    assert {name: p for name, p in problems.items() if p} == {}


def test_the_module_declares_every_kilowatch_family_in_the_registry() -> None:
    declared = {m._name for m in kilowatch_metrics()}
    registered = {f.name for f in REGISTRY.collect() if f.name.startswith("kilowatch_")}
    assert registered <= declared, registered - declared


LIVE = {"multiprocess_mode": "livesum", "registry": None}
BAD_EXAMPLES: list[tuple[MetricWrapperBase, str]] = [
    (Gauge("kwtest_backtest_error", "MAPE or MAE.", ["model_type", "metric"], registry=None), "label"),
    (Histogram("kilowatch_t_batch_size", "Readings per batch.", registry=None), "last word 'size'"),
    (Histogram("kilowatch_t_latency_ms", "Latency.", registry=None), "non-base unit"),
    (Gauge("kilowatch_t_error_ratio", "Error.", registry=None), "explicit multiprocess_mode"),
    (Gauge("kilowatch_t_load", "Load in percent.", **LIVE), "percent"),  # type: ignore[arg-type]
    (Gauge("kilowatch_t_queue_depth", "Queued.", **LIVE), "'depth'"),  # type: ignore[arg-type]
    (Gauge("kilowatch_t_info", "Always 1.", ["v"], **LIVE), "info"),  # type: ignore[arg-type]
    (Counter("kilowatch_t_minutes", "Waited.", registry=None), "non-base unit"),
]


@pytest.mark.parametrize(("metric", "complaint"), BAD_EXAMPLES)
def test_the_rules_catch_mixed_and_unsuffixed_units(metric: MetricWrapperBase, complaint: str) -> None:
    assert any(complaint in p for p in naming_problems(metric)), naming_problems(metric)


def test_split_holdout_error_gauges_and_build_info() -> None:
    assert metrics.HOLDOUT_MASE._labelnames == ("model_type",)
    assert metrics.HOLDOUT_SMAPE._labelnames == ("model_type",)
    samples = [
        s for f in REGISTRY.collect() if f.name == "kilowatch_build_info" for s in f.samples if s.value == 1
    ]
    assert len(samples) == 1
    labels = samples[0].labels
    assert labels["version"] and labels["python_version"].count(".") == 2
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", labels["revision"])
