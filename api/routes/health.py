"""Liveness, readiness and Prometheus metrics: no key needed (probes and scrapers have none)."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import ResourcesDep
from api.http.envelope import Envelope, ok
from api.http.errors import ApiError
from api.services.resources import Resources
from stream_app import metrics as prom

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 3.0


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"


class CheckPublic(BaseModel):
    name: Literal["kafka", "postgres", "redis"]
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadinessPublic(BaseModel):
    ready: bool
    checks: list[CheckPublic]


@router.get("/healthz", response_model=Envelope[HealthPublic], summary="Liveness")
async def healthz() -> Envelope[HealthPublic]:
    """The process serves requests (nothing else is checked)."""
    return ok(HealthPublic())


async def _postgres(resources: Resources) -> None:
    pool = await resources.pool()
    await pool.fetchval("SELECT 1")


async def _redis(resources: Resources) -> None:
    await resources.redis.ping()


async def _kafka(resources: Resources) -> None:
    producer = await resources.producer()
    await producer.partitions_for(resources.settings.kafka.topic("readings"))


async def _check(name: Literal["kafka", "postgres", "redis"], resources: Resources) -> CheckPublic:
    probe = {"kafka": _kafka, "postgres": _postgres, "redis": _redis}[name]
    started = time.perf_counter()
    error = None
    try:
        await asyncio.wait_for(probe(resources), CHECK_TIMEOUT_S)
    except ApiError:
        error = "unavailable"
    except TimeoutError:
        error = f"no answer within {CHECK_TIMEOUT_S:.0f} s"
    except Exception as exc:  # noqa: BLE001 - any failure of a probe is "not ready" (by type)
        error = type(exc).__name__
    return CheckPublic(
        name=name, ok=error is None, latency_ms=round((time.perf_counter() - started) * 1000, 2), error=error
    )


@router.get(
    "/readyz",
    response_model=Envelope[ReadinessPublic],
    summary="Readiness",
    responses={503: {"model": Envelope[ReadinessPublic], "description": "A backing service is down."}},
)
async def readyz(resources: ResourcesDep) -> JSONResponse:
    """Kafka, PostgreSQL and Redis answer (503 with the failing checks otherwise)."""
    names: tuple[Literal["kafka", "postgres", "redis"], ...] = ("kafka", "postgres", "redis")
    checks = await asyncio.gather(*(_check(n, resources) for n in names))
    ready = all(c.ok for c in checks)
    body = ok(ReadinessPublic(ready=ready, checks=list(checks)))
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    """This process's metrics, or every API process's summed when they share a multi-process folder."""
    body, content_type = prom.scrape()
    return Response(body, media_type=content_type)
