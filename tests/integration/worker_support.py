"""Steps the worker tests share: publish a model version on the model-updates topic, request a
training on the training-requests topic, wait for a line in a worker's log."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from schemas.events import ModelUpdated, TrainingRequest, utc_now
from stream_app.kafka.clients import produce as kafka_produce
from stream_app.kafka.clients import producer
from stream_app.settings import Settings
from tests.integration.harness import Worker

Action = Literal["promoted", "rolled_back"]


def publish_model(
    settings: Settings, asset: str, model_type: str, version: str, uri: str, action: Action = "promoted"
) -> None:
    """A ``ModelUpdated`` event for ``asset`` (model id = model type), flushed to the broker."""
    event = ModelUpdated(
        asset_id=asset,
        model_id=model_type,
        model_version=version,
        model_type=model_type,
        artifact_uri=uri,
        action=action,
        updated_at=datetime.now(UTC),
    )
    prod = producer(settings)
    kafka_produce(
        prod, settings.kafka.topic("model-updates"), asset.encode(), event.model_dump_json().encode()
    )
    assert prod.flush(30) == 0


def wait_log(worker: Worker, text: str, count: int = 1, timeout: float = 60.0) -> None:
    """Until ``worker``'s log holds ``text`` ``count`` times; fails at once if the worker exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.log_path.read_text(errors="replace").count(text) >= count:
            return
        assert worker.alive(), worker.tail()
        time.sleep(0.3)
    raise AssertionError(f"worker {worker.worker_id} never logged {text!r}:\n{worker.tail()}")


def request_training(
    settings: Settings, asset: str, model_type: str, params: dict[str, Any], data_url: str
) -> None:
    """A ``TrainingRequest`` for ``asset`` on the training-requests topic, flushed to the broker."""
    req = TrainingRequest(
        request_id=uuid.uuid4(),
        asset_id=asset,
        model_type=model_type,
        params=params,
        data_url=data_url,
        requested_at=utc_now(),
    )
    prod = producer(settings)
    kafka_produce(
        prod, settings.kafka.topic("training-requests"), asset.encode(), req.model_dump_json().encode()
    )
    assert prod.flush(30) == 0
