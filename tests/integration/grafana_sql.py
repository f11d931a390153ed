"""Grafana's PostgreSQL macros and template variables expanded the way Grafana documents them, so a test can
run a dashboard's SQL against the real database; and every SQL query in a dashboard, where it sits.

Macros (Grafana's PostgreSQL data source): ``$__time(c)``, ``$__timeEpoch(c)``, ``$__timeFilter(c)``,
``$__timeFrom()``, ``$__timeTo()``, ``$__timeGroup(c, interval)``, ``$__timeGroupAlias(c, interval)``,
``$__unixEpochFilter(c)``, ``$__interval``, ``$__interval_ms``; variables ``$name``, ``${name}``,
``${name:sqlstring}``, ``${name:raw}``. Anything else left with a ``$`` is an error: a query the test
cannot expand is one Grafana may not either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_DURATION = re.compile(r"^'?(\d+)(ms|s|m|h|d|w)'?$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval: str = "5m"  # what Grafana picks for $__interval from the range and the panel width

    def literal(self, t: datetime) -> str:
        return "'" + t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def duration_s(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a Grafana duration: {text!r}")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _args(text: str) -> list[str]:
    return [a.strip() for a in text.split(",")] if text.strip() else []


def expand(sql: str, rng: TimeRange, variables: dict[str, str]) -> str:
    """``sql`` with every macro and variable replaced; raises on anything it does not know."""

    def macro(m: re.Match[str]) -> str:
        name, args = m.group(1), _args(m.group(2))
        if name == "time":
            return f'{args[0]} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {args[0]}) AS "time"'
        if name == "timeFilter":
            return f"{args[0]} BETWEEN {rng.literal(rng.start)} AND {rng.literal(rng.end)}"
        if name == "timeFrom":
            return rng.literal(rng.start)
        if name == "timeTo":
            return rng.literal(rng.end)
        if name == "unixEpochFilter":
            return f"{args[0]} >= {int(rng.start.timestamp())} AND {args[0]} <= {int(rng.end.timestamp())}"
        if name in ("timeGroup", "timeGroupAlias"):
            step = duration_s(args[1])
            step_text = f"{step:g}"
            grouped = f"floor(extract(epoch from {args[0]})/{step_text})*{step_text}"
            return grouped + (' AS "time"' if name == "timeGroupAlias" else "")
        raise ValueError(f"unknown Grafana macro $__{name}")

    text = sql.replace("$__interval_ms", str(int(duration_s(rng.interval) * 1000)))
    text = re.sub(r"\$__interval\b", rng.interval, text)
    text = re.sub(r"\$__(\w+)\(([^()]*)\)", macro, text)

    def variable(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        fmt = m.group(2)
        if name not in variables:
            raise ValueError(f"unknown template variable ${name}")
        value = variables[name]
        if fmt in (None, "raw"):
            return value
        if fmt == "sqlstring":
            return sql_string(value)
        raise ValueError(f"unsupported variable format {fmt!r}")

    text = re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)", variable, text)
    if "$" in text:
        raise ValueError(f"left unexpanded: {text}")
    return text


@dataclass(frozen=True)
class SqlQuery:
    where: str  # "panel <title> / A", "annotation <name>", "variable <name>"
    kind: str  # "panel", "annotation", "variable"
    fmt: str  # "time_series", "table"
    sql: str


def _is_sql_source(ds: Any) -> bool:
    return isinstance(ds, dict) and "postgres" in str(ds.get("type", ""))


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in panels:
        out.append(p)
        out += _panels(p.get("panels", []))  # rows hold their panels
    return out


def sql_queries(dashboard: dict[str, Any]) -> list[SqlQuery]:
    """Every SQL query of a dashboard: panel targets, annotations and query variables."""
    found = []
    for p in _panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if "rawSql" in t:
                found.append(
                    SqlQuery(
                        f"panel {p['title']} / {t['refId']}",
                        "panel",
                        t.get("format", "time_series"),
                        t["rawSql"],
                    )
                )
    for a in dashboard.get("annotations", {}).get("list", []):
        target = a.get("target") or {}
        sql = target.get("rawSql") or (a.get("rawQuery") if isinstance(a.get("rawQuery"), str) else None)
        if sql:
            found.append(SqlQuery(f"annotation {a['name']}", "annotation", "table", sql))
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") == "query" and _is_sql_source(v.get("datasource")):
            query = v["query"]
            text = query.get("rawSql") if isinstance(query, dict) else query
            found.append(SqlQuery(f"variable {v['name']}", "variable", "table", str(text)))
    return found


def prometheus_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard (panels, nested panels, annotations, variables)."""
    exprs = [
        t["expr"] for p in _panels(dashboard.get("panels", [])) for t in p.get("targets", []) if "expr" in t
    ]
    exprs += [a["expr"] for a in dashboard.get("annotations", {}).get("list", []) if "expr" in a]
    for v in dashboard.get("templating", {}).get("list", []):
        query = v.get("query")
        if v.get("type") == "query" and isinstance(query, dict) and "query" in query:
            exprs.append(query["query"])
    return exprs
