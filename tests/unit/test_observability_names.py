"""Every metric a dashboard or alert rule queries must be one the services really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from stream_app import metrics  # noqa: F401  (registers every kilowatch metric)
from stream_app.devtools.metrics_doc import exported_series

DEPLOY = Path(__file__).parents[2] / "deploy"
# Series Prometheus itself writes for every scrape target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}

_IDENT = re.compile(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label
    names (in matchers or by/without/on lists) or Grafana variables."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    return {m.group(1) for m in _IDENT.finditer(s) if not m.group(2) and m.group(1) not in KEYWORDS}


def rule_exprs() -> list[str]:
    exprs = []
    for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [rule["expr"] for rule in group["rules"]]
    return exprs


def dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for d in dashboards() for p in d["panels"] for t in p["targets"] if "expr" in t]


def test_extractor_finds_names_not_functions_labels_or_numbers() -> None:
    expr = (
        'sum by (le, route) (rate(kilowatch_x_bucket{route=~"a|b"}[5m])) / clamp_min(up, 1e-9) '
        "and on (instance) node_y offset 5m > 0.5"
    )
    assert metric_names(expr) == {"kilowatch_x_bucket", "up", "node_y"}


def test_exported_series_maps_suffixes() -> None:
    names = exported_series()
    assert "kilowatch_readings_total" in names  # counter: family name + _total
    assert "kilowatch_readings" not in names
    batch = "kilowatch_batch_readings"
    assert {f"{batch}_bucket", f"{batch}_sum", f"{batch}_count"} <= names
    assert "kilowatch_batch_readings" not in names
    assert "kilowatch_consumer_lag_messages" in names  # gauge, labelled, no child yet


@pytest.mark.parametrize("source", ["rules", "dashboards"])
def test_every_queried_metric_is_exported(source: str) -> None:
    exprs = rule_exprs() if source == "rules" else dashboard_exprs()
    assert exprs, f"no {source} found"
    used = set().union(*(metric_names(e) for e in exprs))
    assert any(n.startswith("kilowatch_") for n in used)
    unknown = used - exported_series() - PROMETHEUS_SERIES
    assert not unknown, f"{source} query metrics nobody exports: {sorted(unknown)}"


def test_dashboards_use_provisioned_datasources() -> None:
    provisioned = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/kilowatch.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    types = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    titles = set()
    for d in dashboards():
        titles.add(d["title"])
        # a datasource variable stands for the provisioned source it selects by default, of its type
        chosen = {
            "${" + v["name"] + "}": v["current"]["value"]
            for v in d.get("templating", {}).get("list", [])
            if v["type"] == "datasource"
        }
        for v in d.get("templating", {}).get("list", []):
            if v["type"] == "datasource":
                assert types[v["current"]["value"]] == v["query"], (d["title"], v["name"])
        for p in d["panels"]:
            uid = chosen.get(p["datasource"]["uid"], p["datasource"]["uid"])
            assert uid in uids, (d["title"], p["title"])
            assert types[uid] == p["datasource"]["type"], (d["title"], p["title"])
            assert p["targets"], (d["title"], p["title"])
    assert len(titles) == 4
