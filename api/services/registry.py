"""The training registry as the API uses it: one TrainingService per process (cancel and activation use
the service's own logic, so the API and the worker behave alike), its JobChannel and artifact store,
and the training backend module (to validate model types and params the way the worker will).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from redis.exceptions import RedisError

from api.http.errors import unavailable
from api.services.resources import Resources
from schemas.errors import PrerequisiteMissing
from schemas.events import ModelUpdated
from stream_app.lifecycle.artifacts import open_store
from stream_app.lifecycle.backend import TrainingBackend
from stream_app.lifecycle.backend import training_backend as resolve_backend
from stream_app.lifecycle.coord import JobChannel, TrainingLock
from stream_app.lifecycle.service import TrainingService

log = logging.getLogger(__name__)
SERVICE = "training_service"
BACKEND = "training_backend"


async def training_service(resources: Resources) -> TrainingService:
    """This process's TrainingService; its ``publish`` sends ModelUpdated to the model-updates topic
    keyed by asset (as the worker's retraining agent does), so running workers hot-swap."""
    service: TrainingService | None = resources.extensions.get(SERVICE)
    if service is not None:
        return service
    settings = resources.settings
    pool = await resources.pool()

    async def publish(event: ModelUpdated) -> None:
        await resources.publish(
            settings.kafka.topic("model-updates"),
            [(event.asset_id.encode(), event.model_dump_json().encode())],
        )

    service = TrainingService(
        settings=settings,
        pool=pool,
        lock=TrainingLock(resources.redis, settings.kafka.topic_prefix, settings.training.lock_ttl_ms),
        channel=JobChannel(
            resources.redis,
            settings.kafka.topic_prefix,
            settings.training.log_lines,
            settings.training.redis_ttl_s,
        ),
        store=open_store(settings),
        publish=publish,
    )
    resources.extensions[SERVICE] = service
    return service


def training_backend(resources: Resources) -> TrainingBackend:
    """The backend the worker trains with (``training_backend``): TrainSpec and MODEL_TYPES."""
    backend: TrainingBackend | None = resources.extensions.get(BACKEND)
    if backend is None:
        try:
            backend = resolve_backend(resources.settings.training.backend)
        except PrerequisiteMissing as exc:
            log.error("%s", exc)
            raise unavailable("training backend") from None
        resources.extensions[BACKEND] = backend
    return backend


@contextlib.contextmanager
def redis_needed() -> Iterator[None]:
    """Redis errors inside become 503 SERVICE_UNAVAILABLE (never a 500)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        log.warning("Redis unavailable: %s", exc)
        raise unavailable("Redis") from None
