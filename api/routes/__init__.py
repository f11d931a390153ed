"""One module per resource; each exposes ``router``. ``V1`` modules are mounted under ``/api/v1``."""

from __future__ import annotations

ROOT: tuple[str, ...] = ("api.routes.health",)
V1: tuple[str, ...] = ("api.routes.keys", "api.routes.inference")
