"""Limits a training process sets on itself at start (Linux): a memory ceiling and death with its parent.

- Memory: ``RLIMIT_DATA`` (heap and private anonymous mappings: what numpy, pandas and the models
  allocate) from ``training.child_memory_mb``. Past it an allocation raises MemoryError, which the
  child reports as the fixed job error OUT_OF_MEMORY instead of the machine swapping or the kernel's
  OOM killer picking the worker. (``RLIMIT_AS`` would also count the address space libraries reserve
  and never use.)
- Parent death: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the child when the worker
  dies, even by SIGKILL; plus a watchdog thread that exits when the parent pid changes (the fallback
  where prctl is missing, and the race where the parent died before the prctl call).
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

OUT_OF_MEMORY = "training ran out of memory (child_memory_mb limit)"
PR_SET_PDEATHSIG = 1
WATCH_EVERY_S = 0.5


def limit_memory(limit_mb: int) -> None:
    """Cap the process's data segment at ``limit_mb`` MiB (0 = unchanged)."""
    if limit_mb <= 0:
        return
    limit = int(limit_mb) * 2**20
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _exit_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent(parent_pid: int) -> None:
    """Make sure this process ends when ``parent_pid`` does (see the module docstring)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("prctl unavailable (%s): relying on the parent watchdog", exc)
    if os.getppid() != parent_pid:  # the parent died before the prctl call
        _exit_now()

    def watch() -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            if os.getppid() != parent_pid:
                _exit_now()

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
