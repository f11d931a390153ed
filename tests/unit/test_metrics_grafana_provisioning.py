"""Grafana provisioning: the PostgreSQL password comes from the environment, and the asset dashboard has
the variables and annotations an operator needs (its SQL runs against PostgreSQL in
tests/integration/test_grafana_dashboards.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
ENV_REFERENCE = re.compile(r"^\$(\{[A-Z_][A-Z0-9_]*\}|[A-Z_][A-Z0-9_]*)$")


def test_every_datasource_secret_is_an_environment_reference() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/kilowatch.yml").read_text())["datasources"]
    postgres = [d for d in sources if d["type"] == "grafana-postgresql-datasource"]
    assert postgres
    for d in sources:
        for key, value in (d.get("secureJsonData") or {}).items():
            assert ENV_REFERENCE.match(str(value)), f"{d['name']}.{key} is a literal, not $VARIABLE"
        assert "password" not in d and "password" not in (d.get("jsonData") or {}), d["name"]
    assert all("password" in d["secureJsonData"] for d in postgres)


def test_the_asset_dashboard_selects_a_datasource_and_an_asset() -> None:
    dash = json.loads((GRAFANA / "dashboards/asset.json").read_text())
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "grafana-postgresql-datasource"
    asset = variables["asset"]
    assert asset["type"] == "query" and asset["datasource"]["uid"] == "${datasource}"
    assert "SELECT" in asset["query"] and asset["refresh"] == 2  # from SQL, on each time-range change
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for t in panel["targets"]:
            assert "${asset:sqlstring}" in t["rawSql"], (panel["title"], "quote the asset id")
    notes = [a for a in dash["annotations"]["list"] if a.get("name") == "Anomalies"]
    assert notes and "${asset:sqlstring}" in notes[0]["target"]["rawSql"]
    main = dash["panels"][0]
    fills = [
        p["value"]
        for o in main["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "custom.fillBelowTo"
    ]
    assert fills == ["lower"]  # the band: upper filled down to lower
