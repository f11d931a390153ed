"""One module per resource; each exposes ``router``. ``V1`` modules are mounted under ``/api/v1``."""

from __future__ import annotations

ROOT: tuple[str, ...] = ("api.routes.health",)
# Order matters where templates overlap: models (/assets/{id}/models...) before assets (/assets/{id:path}).
V1: tuple[str, ...] = (
    "api.routes.keys",
    "api.routes.training_jobs",
    "api.routes.jobs",
    "api.routes.models",
    "api.routes.assets",
)
