"""The training backend as a typed protocol: the one place a backend module is resolved by name.

``KILOWATCH_TRAINING_BACKEND`` names the module (``trainers.backend`` by default; the integration
tests plug in a small least-squares one). The training child process, the model loader and the API's
training routes all get it from :func:`training_backend`, typed as :class:`TrainingBackend`, so the
tools see what is called on it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol, cast

from schemas.errors import PrerequisiteMissing


class TrainingBackend(Protocol):
    """What kilowatch calls on a training backend module (``trainers.backend`` is the reference)."""

    MODEL_TYPES: tuple[str, ...]
    TrainSpec: Any  # a dataclass: TrainSpec(model_type=..., horizon=..., params=...).validate()

    def load_frame(self, source: Any, target: str | None = ...) -> Any:
        """A CSV (path, text or bytes) as a frame with ``timestamp`` and ``value`` columns."""

    def train(self, frame: Any, spec: Any, progress: Any = ..., should_stop: Any = ...) -> Any:
        """Fit a model; the result has ``metadata``, ``save(directory)``."""

    def evaluate(self, model: Any, frame: Any) -> dict[str, float]:
        """Hold-out metrics (lower ``mase`` wins)."""

    def load_model(self, directory: Path) -> Any:
        """A saved bundle, checked before anything is unpickled."""


REQUIRED = ("MODEL_TYPES", "TrainSpec", "load_frame", "train", "evaluate", "load_model")


def training_backend(name: str) -> TrainingBackend:
    """The backend module ``name``; PrerequisiteMissing when it (or the ML extra) cannot be imported."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise PrerequisiteMissing(
            f"training backend {name!r} cannot be imported ({exc}); pip install 'kilowatch[ml]'"
        ) from None
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise PrerequisiteMissing(f"training backend {name!r} lacks {', '.join(missing)}")
    return cast(TrainingBackend, module)
