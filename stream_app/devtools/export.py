"""``kilowatch schemas export [--check]``: JSON Schema per payload and an AsyncAPI 3 document.

The generated files are checked in; ``--check`` (run by ``make test``) fails when they are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from schemas.covariates import CovariateForecast
from schemas.events import (
    ASSET_ID_PATTERN,
    Anomaly,
    AssetReset,
    DeadLetter,
    Forecast,
    ModelUpdated,
    Reading,
    ReadingMessage,
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
        ReadingMessage,
        "Meter readings from devices (or POST /readings); key = asset_id (the body's asset_id may be "
        "left out; if both are given they must be equal). Producers must partition by Kafka's murmur2 "
        "hash of the key (librdkafka: partitioner=murmur2_random); readings that arrive on another "
        "partition are counted (kilowatch_readings_misrouted_total). Also carries AssetReset "
        "control messages (a `control` field; kilowatch reset-asset, POST /assets/{id}/reset).",
    ),
    "forecasts": (Forecast, "Forecast of the next steps, every K readings of an asset; key = asset_id."),
    "anomalies": (Anomaly, "Flagged readings; key = asset_id; de-duplicate by event_id."),
    "scores": (ScoreRecord, "Every scored reading (when emit_scores is on); key = asset_id."),
    "training-requests": (TrainingRequest, "Requests to train a new model version; key = asset_id."),
    "model-updates": (ModelUpdated, "A model version became active; key = asset_id; compacted."),
    "dead-letters": (DeadLetter, "Messages that could not be used, with the reason; key = original key."),
    "covariate-forecasts": (
        CovariateForecast,
        "Supplied future covariates (a weather forecast, a production plan) of one asset for the models "
        "trained with them; key = asset_id; compacted (the latest per asset is kept).",
    ),
}


# Further message types a topic carries besides its payload model.
CONTROL: dict[TopicKind, tuple[type[BaseModel], ...]] = {"readings": (AssetReset,)}
# Schemas published besides the topics' messages: the normalised reading (POST /readings items, what
# the decoder makes of a ReadingMessage).
EXTRA_SCHEMAS: tuple[type[BaseModel], ...] = (Reading,)

Action = Literal["send", "receive"]
# What kilowatch itself does on each topic, and which part of it does it: the AsyncAPI operations,
# from kilowatch's point of view. tests/unit/test_asyncapi_roles.py derives the same pairs from the
# code (who produces to and who consumes from each topic) and fails when they differ.
ROLES: dict[TopicKind, dict[Action, str]] = {
    "readings": {
        "receive": "The worker scores every reading; the history sink stores them (readings_history).",
        "send": "POST /readings publishes readings; kilowatch reset-asset and POST /assets/{id}/reset "
        "publish AssetReset control messages.",
    },
    "forecasts": {
        "send": "The worker, every forecast_every readings of an asset.",
        "receive": "The results sink stores them (GET /forecasts).",
    },
    "anomalies": {
        "send": "The worker, for every flagged reading.",
        "receive": "The alerting agent (notifications) and the results sink (GET /anomalies).",
    },
    "scores": {
        "send": "The worker, for every scored reading when emit_scores is on.",
        "receive": "The retraining agent's drift monitor (drift_enabled and emit_scores).",
    },
    "training-requests": {
        "send": "POST /training-jobs, and the retraining agent (schedule and drift triggers).",
        "receive": "The retraining agent trains the requested model version.",
    },
    "model-updates": {
        "send": "The retraining agent and the API's training service on promotion or rollback; the API "
        "tombstones a deleted asset's key.",
        "receive": "Every worker tails the topic and swaps to the active version.",
    },
    "dead-letters": {
        "send": "The worker (unusable readings, with the reason; unusable covariate forecasts) and the "
        "retraining agent (unusable training requests).",
    },
    "covariate-forecasts": {
        "receive": "Every worker tails the topic and keeps each asset's latest supplied values for its "
        "trained model's forecasts.",
    },
}

# The Kafka message key, where kilowatch reads it (AsyncAPI Kafka message binding).
KEY_BINDINGS: dict[type[BaseModel], dict[str, Any]] = {
    ReadingMessage: {
        "type": "string",
        "pattern": ASSET_ID_PATTERN,
        "description": "The asset id as UTF-8 (an empty key counts as none). Required when the body "
        "has no asset_id; equal to it when both are given.",
    },
    AssetReset: {
        "type": "string",
        "pattern": ASSET_ID_PATTERN,
        "description": "Must be the body's asset_id (so the reset reaches the asset's partition).",
    },
}


def _models(kind: TopicKind) -> tuple[type[BaseModel], ...]:
    return (TOPICS[kind][0], *CONTROL.get(kind, ()))


def json_schemas() -> dict[str, dict[str, Any]]:
    models = [model for kind in TOPICS for model in _models(kind)] + list(EXTRA_SCHEMAS)
    return {model.__name__: model.model_json_schema(mode="serialization") for model in models}


def _message(model: type[BaseModel]) -> dict[str, Any]:
    name = model.__name__
    message: dict[str, Any] = {
        "name": name,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{name}"},
    }
    if model in KEY_BINDINGS:
        message["bindings"] = {"kafka": {"key": KEY_BINDINGS[model], "bindingVersion": "0.5.0"}}
    return message


def asyncapi(settings: Settings) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for kind, (_model, description) in TOPICS.items():
        channel = kind.replace("-", "_")
        names = [model.__name__ for model in _models(kind)]
        for model in _models(kind):
            messages[model.__name__] = _message(model)
        channels[channel] = {
            "address": settings.kafka.topic(kind),
            "description": description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {"kafka": {"partitions": settings.kafka.topic_partitions, "bindingVersion": "0.5.0"}},
        }
        for action, who in ROLES[kind].items():
            operations[f"{action}_{channel}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "description": who,
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
            "description": "Topics of kilowatch; names are <topic_prefix>.<kind> (default prefix shown). "
            "Operations are kilowatch's: `send` where kilowatch produces to a topic, `receive` where it "
            "consumes from it.",
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
