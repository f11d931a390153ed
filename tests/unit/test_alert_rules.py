"""Alert rules: each links a runbook section that exists, uses only exported metrics, and has a promtool
unit test that sees it fire and stay quiet (the promtool run itself is `make promtool`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_app.devtools.metrics_doc import exported_series
from tests.unit.test_observability_names import PROMETHEUS_SERIES, metric_names

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
TESTS = ROOT / "deploy" / "prometheus" / "tests"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_PREFIX = "docs/runbooks.md#"
# The alerts issue 15 asks for: API down, stalled stream, sink failures, model-load failures.
REQUIRED = {
    "KilowatchApiDown",
    "KilowatchStreamStalled",
    "KilowatchSinkWriteRetrying",
    "KilowatchSinkMessagesSkipped",
    "KilowatchModelLoadFailures",
}


def rules() -> list[dict[str, Any]]:
    found = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [r for r in group["rules"] if "alert" in r]
    return found


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", markdown, re.MULTILINE)}


def test_anchor_rules() -> None:
    assert github_anchor("KilowatchApiDown") == "kilowatchapidown"
    assert github_anchor("Sink failures (history, results)") == "sink-failures-history-results"
    assert "kilowatchapidown" in anchors("# Runbooks\n\n## KilowatchApiDown\ntext\n")


def test_the_required_alerts_exist() -> None:
    assert {r["alert"] for r in rules()} >= REQUIRED


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_every_rule_links_an_existing_runbook_section(rule: dict[str, Any]) -> None:
    url = rule["annotations"].get("runbook_url", "")
    assert url.startswith(RUNBOOK_PREFIX), url
    assert url.removeprefix(RUNBOOK_PREFIX) in anchors(RUNBOOKS.read_text()), url


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_every_metric_a_rule_uses_is_exported(rule: dict[str, Any]) -> None:
    used = metric_names(rule["expr"])
    assert used
    unknown = used - exported_series() - PROMETHEUS_SERIES
    assert not unknown, f"{rule['alert']} uses metrics nobody exports: {sorted(unknown)}"


def test_every_rule_has_a_promtool_test_that_fires_and_one_that_stays_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS.glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in rules()}
    assert names - fires == set(), "never seen firing"
    assert (names & REQUIRED) - quiet == set(), "never seen staying quiet"
