"""``kilowatch`` CLI with a cProfile switch: real-time signals start/stop profiling of the main thread.

``python -m bench.profiled_worker OUT.prof worker --worker-id w1``; send ``SIGRTMIN+1`` to start
profiling, ``SIGRTMIN+2`` to stop and write ``OUT.prof``. (faust/mode own SIGUSR1/SIGUSR2.)
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

START = signal.SIGRTMIN + 1
STOP = signal.SIGRTMIN + 2


def main() -> int:
    out = sys.argv[1]
    prof = cProfile.Profile()

    def start(_sig: int, _frame: FrameType | None) -> None:
        prof.enable()

    def stop(_sig: int, _frame: FrameType | None) -> None:
        prof.disable()
        prof.dump_stats(out)

    signal.signal(START, start)
    signal.signal(STOP, stop)
    from stream_app.cli import main as kilowatch

    return kilowatch(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
