"""One module per resource; each exposes ``router``. ``V1`` modules are mounted under ``/api/v1``."""

from __future__ import annotations

ROOT: tuple[str, ...] = ("api.routes.health",)
# Order matters where templates overlap: asset ids may contain "/" ({asset_id:path}), so every
# /assets/{asset_id}/<suffix> route must come before assets' bare /assets/{asset_id}: assets is last.
V1: tuple[str, ...] = (
    "api.routes.keys",
    "api.routes.inference",
    "api.routes.training_jobs",
    "api.routes.jobs",
    "api.routes.anomalies",
    "api.routes.forecasts",
    "api.routes.readings",
    "api.routes.alert_config",
    "api.routes.models",
    "api.routes.asset_state",
    "api.routes.assets",
)
