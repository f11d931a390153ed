"""Load a registered model bundle and serve it: resolve its URI, load it with the training backend,
wrap it in its engine (``serving.model``). The stream and the API load through here.

Blocking (file reads, unpickling, library imports): call it off the event loop. The trainers are
imported on first use only, so a process without the ML extra still runs the online model; asking
it to load a bundle then fails with a clear message and the asset stays on the online model.
"""

from __future__ import annotations

from typing import Any

from stream_app.lifecycle.artifacts import ArtifactStore, open_store
from stream_app.lifecycle.backend import training_backend
from stream_app.serving.live import ActiveModel, Loader
from stream_app.serving.model import DartsEngine, ServedModel, serve
from stream_app.settings import Settings


def load_trained(settings: Settings, artifact_uri: str, store: ArtifactStore | None = None) -> Any:
    """The training backend's model (``trainers.backend.TrainedModel``) for a registered artifact URI."""
    backend = training_backend(settings.training.backend)
    return backend.load_model((store or open_store(settings)).get_dir(artifact_uri))


def load_served(
    settings: Settings, artifact_uri: str, store: ArtifactStore | None = None, *, native: bool = True
) -> DartsEngine:
    """A registered bundle behind its engine (native LightGBM when it can, else darts)."""
    return serve(load_trained(settings, artifact_uri, store), native=native)


def bundle_loader(settings: Settings) -> Loader:
    """The stream's loader: the served model, refused when it needs more history than a worker keeps."""
    window = settings.detector.window_size
    store = open_store(settings)

    def load(active: ActiveModel) -> ServedModel:
        return fit_window(load_served(settings, active.artifact_uri, store), window)

    return load


def fit_window(served: DartsEngine, window: int) -> DartsEngine:
    """``served``, or ValueError when it needs more history than a worker keeps per asset."""
    if served.input_length > window:
        raise ValueError(
            f"model needs {served.input_length} points of history, the worker keeps {window} "
            "(raise KILOWATCH_WINDOW_SIZE or train with a shorter lookback)"
        )
    return served
