"""``kilowatch schemas export [--check]``: JSON Schema per payload and an AsyncAPI 3 document.

The generated files are checked in; ``--check`` (run by ``make test``) fails when they are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from schemas.events import (
    Anomaly,
    AssetReset,
    DeadLetter,
    Forecast,
    ModelUpdated,
    Reading,
    ScoreRecord,
    TrainingRequest,
)
from stream_app.settings import Settings, TopicKind, settings_reference

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "schemas" / "generated"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
OPENAPI_DOC = ROOT / "docs" / "openapi.json"

# topic kind -> (payload model, who publishes, who consumes, description)
TOPICS: dict[TopicKind, tuple[type[BaseModel], str]] = {
    "readings": (
        Reading,
        "Meter readings from devices (or POST /readings); key = asset_id. Also carries AssetReset "
        "control messages (a `control` field; kilowatch reset-asset, POST /assets/{id}/reset).",
    ),
    "forecasts": (Forecast, "Forecast of the next steps, every K readings of an asset; key = asset_id."),
    "anomalies": (Anomaly, "Flagged readings; key = asset_id; de-duplicate by event_id."),
    "scores": (ScoreRecord, "Every scored reading (when emit_scores is on); key = asset_id."),
    "training-requests": (TrainingRequest, "Requests to train a new model version; key = asset_id."),
    "model-updates": (ModelUpdated, "A model version became active; key = asset_id; compacted."),
    "dead-letters": (DeadLetter, "Messages that could not be used, with the reason; key = original key."),
}


# Further message types a topic carries besides its payload model.
CONTROL: dict[TopicKind, tuple[type[BaseModel], ...]] = {"readings": (AssetReset,)}


def _models(kind: TopicKind) -> tuple[type[BaseModel], ...]:
    return (TOPICS[kind][0], *CONTROL.get(kind, ()))


def json_schemas() -> dict[str, dict[str, Any]]:
    return {
        model.__name__: model.model_json_schema(mode="serialization")
        for kind in TOPICS
        for model in _models(kind)
    }


def asyncapi(settings: Settings) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for kind, (_model, description) in TOPICS.items():
        channel = kind.replace("-", "_")
        names = [model.__name__ for model in _models(kind)]
        for name in names:
            messages[name] = {
                "name": name,
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{name}"},
            }
        channels[channel] = {
            "address": settings.kafka.topic(kind),
            "description": description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {"kafka": {"partitions": settings.kafka.topic_partitions, "bindingVersion": "0.5.0"}},
        }
        operations[f"receive_{channel}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
        }
    schemas: dict[str, Any] = {}
    for name, schema in json_schemas().items():
        defs = schema.pop("$defs", {})
        schemas.update(defs)
        schemas[name] = schema
    text = json.dumps(schemas).replace("#/$defs/", "#/components/schemas/")
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "kilowatch event streams",
            "version": "1.0.0",
            "description": "Topics of kilowatch; names are <topic_prefix>.<kind> (default prefix shown).",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": settings.kafka.bootstrap, "protocol": "kafka"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": json.loads(text)},
    }


def render(settings: Settings) -> dict[str, str]:
    files = {
        f"{name}.schema.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(settings), sort_keys=False, width=110)
    return files


def openapi_document(settings: Settings) -> str:
    """The REST API's OpenAPI document (docs/openapi.json; the server also serves it at /openapi.json)."""
    from api.app import create_app

    return json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("schemas", help="export JSON Schema and AsyncAPI documents")
    p.add_argument("action", choices=["export"])
    p.add_argument("--check", action="store_true", help="fail if the checked-in files are stale")
    p.add_argument("--out", type=Path, default=GENERATED)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Document the defaults, not whatever this shell's environment says.
    files = render(Settings.model_construct())
    targets = {args.out / n: text for n, text in files.items()}
    targets[SETTINGS_DOC] = settings_reference()
    from stream_app.devtools.metrics_doc import METRICS_DOC, metrics_reference

    targets[METRICS_DOC] = metrics_reference()
    targets[OPENAPI_DOC] = openapi_document(Settings.model_construct())
    stale = [str(p) for p, text in targets.items() if not p.exists() or p.read_text() != text]
    if args.check:
        if stale:
            print(f"stale schema files (run `kilowatch schemas export`): {', '.join(stale)}", file=sys.stderr)
            return 1
        print(f"{len(targets)} generated files are current")
        return 0
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(targets)} files ({args.out}, {SETTINGS_DOC}, {METRICS_DOC})")
    return 0
