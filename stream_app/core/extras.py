"""Optional dependencies (pyproject extras): is a module installed, and what to tell a user who lacks it.

The base install runs the stream, the API and LightGBM training; torch (``deep``) and river (``eval``) are
extras. Code that needs one calls :func:`missing_extra` before importing it and raises its own error with
the returned sentence, so a slim install fails with "install the 'deep' extra", not a ModuleNotFoundError.
"""

from __future__ import annotations

import importlib.util

# module -> (extra that installs it, what it is for)
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("deep", "deep models (tide, lstm, tft) and the autoencoder detector"),
    "darts": ("ml", "trained forecasters"),
    "lightgbm": ("ml", "LightGBM models"),
    "river": ("eval", "the river baselines of `kilowatch evaluate`"),
}


def installed(module: str) -> bool:
    """True when ``module`` can be imported (found on the path; nothing is imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra(module: str) -> str | None:
    """None when ``module`` is installed, else one sentence naming the extra to install."""
    if installed(module):
        return None
    extra, purpose = EXTRAS[module]
    return (
        f"{purpose} need {module}, which is not installed: "
        f"install the '{extra}' extra (pip install 'kilowatch[{extra}]')"
    )
