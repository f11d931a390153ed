"""What an alert or a digest says: e-mail subject and text, and the webhook's JSON body (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.events import Anomaly
from stream_app.alerting.hygiene import Episode

WEBHOOK_VERSION = 1


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def episode_summary(ep: Episode, anomaly: Anomaly) -> dict[str, Any]:
    """JSON-safe facts about an alerting episode and the anomaly that made it alert."""
    return {
        "episode_id": str(ep.episode_id),
        "asset_id": ep.asset_id,
        "opened_at": _iso(ep.opened_at),
        "event_id": str(anomaly.event_id),
        "timestamp": anomaly.timestamp.isoformat(),
        "type": anomaly.type,
        "score": round(anomaly.score, 4),
        "value": anomaly.value,
        "expected": anomaly.expected,
        "reason": anomaly.reason,
        "model_version": anomaly.model_version,
    }


def alert_message(summary: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(subject, text body, webhook payload) of one immediate alert."""
    subject = f"[kilowatch] {summary['type']} on {summary['asset_id']} (score {summary['score']:.3f})"
    body = (
        f"Asset {summary['asset_id']}: {summary['reason']}.\n"
        f"Reading at {summary['timestamp']}: value {summary['value']:g}, expected {summary['expected']:g}.\n"
        f"Type {summary['type']}, score {summary['score']:.3f}, model {summary['model_version']}.\n"
        f"Episode {summary['episode_id']} opened {summary['opened_at']}; further anomalies of this asset "
        "are grouped into it and do not send more alerts until it closes.\n"
    )
    payload = {"version": WEBHOOK_VERSION, "kind": "alert", "alert": summary}
    return subject, body, payload


def digest_message(frequency: str, items: Sequence[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """(subject, text body, webhook payload) of an hourly or daily digest of alert summaries."""
    period = "hour" if frequency == "hourly" else "day"
    assets = sorted({i["asset_id"] for i in items})
    subject = f"[kilowatch] {len(items)} alert(s) on {len(assets)} asset(s) in the last {period}"
    lines = [subject[len("[kilowatch] ") :] + ":", ""]
    for i in sorted(items, key=lambda i: (i["asset_id"], i["timestamp"])):
        lines.append(f"- {i['asset_id']} {i['timestamp']} {i['type']} score {i['score']:.3f}: {i['reason']}")
    payload = {"version": WEBHOOK_VERSION, "kind": "digest", "frequency": frequency, "alerts": list(items)}
    return subject, "\n".join(lines) + "\n", payload


def backoff_delay(attempt: int, base_s: float, cap_s: float = 3600.0) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): base, 2*base, 4*base ... capped."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))
