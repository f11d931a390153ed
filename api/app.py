"""The FastAPI application factory: ``create_app(settings)``; ``kilowatch api`` serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.http import error_handlers
from api.http.body_limits import BodyLimitMiddleware, BodyLimits, Scope, Send
from api.http.errors import ApiError
from api.http.request_context import RequestContextMiddleware, send_error
from api.routes import (
    alert_config,
    alert_episodes,
    anomalies,
    anomaly_stream,
    asset_readings,
    asset_state,
    assets,
    auth,
    console,
    dashboards,
    dataset_anomalies,
    datasets,
    fleet,
    forecasts,
    health,
    inference,
    jobs,
    keys,
    load_patterns,
    models,
    readings,
    reports,
    statistics,
    training_jobs,
    users,
)
from api.services import job_runners, sessions
from api.services import keys as keys_of
from api.services.resources import Resources
from stream_app.metrics import MetricsMiddleware, mark_process_dead
from stream_app.settings import Settings

API_PREFIX = "/api/v1"
UPLOAD_ENVELOPE_BYTES = 64 * 1024  # multipart boundaries and form fields around a dataset file
ROOT: tuple[APIRouter, ...] = (health.router,)
# Mounted under API_PREFIX. Order matters where templates overlap: asset ids may contain "/"
# ({asset_id:path}), so every /assets/{asset_id}/<suffix> route must come before assets' bare
# /assets/{asset_id}: assets is last.
V1: tuple[APIRouter, ...] = (
    auth.router,
    users.router,
    keys.router,
    inference.router,
    training_jobs.router,
    jobs.router,
    datasets.router,
    statistics.router,
    load_patterns.router,
    dataset_anomalies.router,
    reports.router,
    dashboards.router,
    fleet.router,
    alert_episodes.router,
    anomaly_stream.router,
    anomalies.router,
    forecasts.router,
    asset_readings.router,
    readings.router,
    alert_config.router,
    models.router,
    asset_state.router,
    assets.router,
)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources(settings)
        app.state.resources = resources
        runners = job_runners.start(resources)
        try:
            yield
        finally:
            await job_runners.stop(runners)
            try:
                await resources.close()
            finally:
                mark_process_dead()  # this worker's live gauges leave the multi-process sum

    app = FastAPI(
        title="kilowatch",
        version="0.1.0",
        description="Real-time energy forecasting and anomaly detection: queries, synchronous "
        "predict/detect, training jobs, models and keys. Every /api/v1 route but sign-in needs "
        "`Authorization: Bearer <key>` or a console session (the kw_session cookie from POST "
        "/api/v1/auth/login; state-changing calls with it also send X-CSRF-Token); messages in en-US "
        "or zh-CN (Accept-Language or ?lang=).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    error_handlers.install(app)
    for router in ROOT:
        app.include_router(router)
    for router in V1:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(console.router)  # the built console under /admin (not in the OpenAPI document)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Accept-Language",
                "X-Request-ID",
                "Last-Event-ID",
            ],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(MetricsMiddleware)
    lang = settings.api.default_language

    async def reply(scope: Scope, send: Send, err: ApiError) -> None:
        await send_error(scope, send, err, lang)

    # Bodies are refused (too large, or sent without a key) before anything reads them.
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimits(
            bulk=settings.api.max_body_bytes,
            small=settings.api.small_body_bytes,
            upload=settings.api.upload_max_bytes + UPLOAD_ENVELOPE_BYTES,
        ),
        key_ok=lambda key: keys_of.parse(key) is not None,
        reply=reply,
        session_cookie=sessions.SESSION_COOKIE,
        session_ok=sessions.well_formed,
        open_paths=frozenset({API_PREFIX + auth.LOGIN_PATH}),
    )
    # Outermost: the request id exists before anything else runs, and it answers unexpected errors.
    app.add_middleware(RequestContextMiddleware, default_lang=lang)
    return app


def app_from_env() -> FastAPI:
    """The app of one ``kilowatch api --workers N`` process: settings from the environment, logging as
    the CLI sets it up (each worker is a fresh interpreter)."""
    from stream_app import logging_setup

    settings = Settings()
    logging_setup.configure(settings)
    return create_app(settings)
