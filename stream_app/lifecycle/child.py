"""What runs inside the training process (spawned: a clean interpreter, no inherited event loop).

It talks to the parent only through a multiprocessing queue: ("progress", pct, msg), ("log", line) (shown
in the job's log), ("detail", text) (exception text and tracebacks: the worker's log only), then exactly
one of ("result", dict) / ("error", msg) / ("canceled", msg), then ("usage", dict).
The training backend is a module named in settings (``trainers.backend``) exposing ``load_frame``,
``TrainSpec``, ``train``, ``evaluate``, ``load_model`` — the trainers API contract.
"""

from __future__ import annotations

import os
import resource
import time
import traceback
from pathlib import Path
from typing import Any

from schemas.errors import KilowatchError
from stream_app.lifecycle.backend import training_backend
from stream_app.lifecycle.child_guard import OUT_OF_MEMORY, die_with_parent, limit_memory

# Each stage's share of the progress bar (training itself reports 0..100 inside its share).
_LOAD, _TRAIN_END, _EVAL_END = 5.0, 85.0, 95.0


def run(
    backend_name: str,
    data_path: str,
    spec_kwargs: dict[str, Any],
    out_dir: str,
    active_dir: str | None,
    holdout_fraction: float,
    queue: Any,
    stop_event: Any,
    nice: int = 0,
    memory_mb: int = 0,
    parent_pid: int = 0,
) -> None:
    """Train on the head of the data, evaluate the candidate (and the active version) on the tail,
    save the bundle to ``out_dir``. Never raises: every outcome is a queue message. The process dies
    with ``parent_pid`` and holds at most ``memory_mb`` MiB of data (``child_guard``)."""
    started = time.monotonic()
    if parent_pid:
        die_with_parent(parent_pid)
    limit_memory(memory_mb)
    if nice:
        os.nice(nice)  # background work: the worker's scoring keeps priority on a shared CPU
    try:
        backend = training_backend(backend_name)
        queue.put(("progress", 1.0, "loading data"))
        target = (spec_kwargs.get("params") or {}).get("target")
        frame = backend.load_frame(Path(data_path), target) if target else backend.load_frame(Path(data_path))
        n = len(frame)
        n_hold = max(1, int(n * holdout_fraction))
        train_part = frame.iloc[: n - n_hold]
        queue.put(("log", f"{n} rows: training on {n - n_hold}, hold-out {n_hold}"))
        spec = backend.TrainSpec(**spec_kwargs)
        spec.validate()
        queue.put(("progress", _LOAD, "training"))

        def progress(pct: float, message: str) -> None:
            queue.put(("progress", _LOAD + (_TRAIN_END - _LOAD) * max(0.0, min(100.0, pct)) / 100, message))

        model = backend.train(train_part, spec, progress=progress, should_stop=stop_event.is_set)
        if stop_event.is_set():
            queue.put(("canceled", "canceled after training, before evaluation"))
            return
        queue.put(("progress", _TRAIN_END, "evaluating on the hold-out"))
        active_model = None
        active_error = None
        if active_dir is not None:
            try:
                active_model = backend.load_model(Path(active_dir))
            except Exception as exc:  # noqa: BLE001 - an unloadable champion must not fail the candidate
                active_error = "active version could not be loaded (see worker log)"
                queue.put(("detail", f"{active_error}: {type(exc).__name__}: {exc}"))
                queue.put(("log", active_error))
        context = max(int(model.input_length), int(active_model.input_length) if active_model else 0)
        eval_frame = frame.iloc[max(0, n - n_hold - context) :]
        candidate = {k: float(v) for k, v in backend.evaluate(model, eval_frame).items()}
        active: dict[str, float] | None = None
        if active_model is not None:
            try:
                active = {k: float(v) for k, v in backend.evaluate(active_model, eval_frame).items()}
            except Exception as exc:  # noqa: BLE001 - same: the champion's fault, not the candidate's
                active_error = "active version could not be evaluated (see worker log)"
                queue.put(("detail", f"{active_error}: {type(exc).__name__}: {exc}"))
                queue.put(("log", active_error))
        queue.put(("progress", _EVAL_END, "saving the bundle"))
        model.save(Path(out_dir))
        queue.put(
            (
                "result",
                {
                    "holdout_rows": n_hold,
                    "rows": n,
                    "candidate": candidate,
                    "active": active,
                    "active_error": active_error,
                    "metadata_metrics": dict(getattr(model, "metadata", {}).get("metrics", {}) or {}),
                },
            )
        )
    except BaseException as exc:  # noqa: BLE001 - every outcome must reach the parent as a message
        # TrainingCanceled is recognised by name: the backend's exception classes are not imported here.
        if type(exc).__name__ == "TrainingCanceled":
            queue.put(("canceled", str(exc) or "canceled"))
        elif isinstance(exc, KilowatchError):  # TrainingError & co: a clear message, no traceback
            queue.put(("error", str(exc)))
        elif isinstance(exc, MemoryError):  # past child_memory_mb (its memory is freed by now)
            queue.put(("error", OUT_OF_MEMORY))
        else:
            queue.put(("detail", traceback.format_exc()[-4000:]))  # worker log only, never the job's
            queue.put(("error", f"training crashed: {type(exc).__name__}: {exc}"))
    finally:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        queue.put(
            (
                "usage",
                {
                    "cpu_s": ru.ru_utime + ru.ru_stime,
                    "peak_rss_mb": ru.ru_maxrss / 1024.0,  # KiB on Linux
                    "wall_s": time.monotonic() - started,
                },
            )
        )
