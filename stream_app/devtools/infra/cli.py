"""``kilowatch infra up | down | status``: thin wrapper over :mod:`stream_app.devtools.infra`."""

from __future__ import annotations

import argparse
import time
from typing import Any

from stream_app.devtools import infra
from stream_app.settings import Settings


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    parser = subparsers.add_parser("infra", help="start/stop local Kafka, PostgreSQL and Redis")
    actions = parser.add_subparsers(dest="infra_action", required=True)
    only_help = f"comma-separated subset of {','.join(infra.SERVICES)}"
    p_up = actions.add_parser("up", help="start the services (idempotent)")
    p_up.add_argument("--only", default=None, help=only_help)
    p_up.set_defaults(handler=_up)
    p_down = actions.add_parser("down", help="stop the services started by `up`")
    p_down.add_argument("--only", default=None, help=only_help)
    p_down.set_defaults(handler=_down)
    actions.add_parser("status", help="one line per service; exit 0 if all run").set_defaults(handler=_status)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    addresses = infra.up(settings, only=args.only)
    for name, address in addresses.items():
        extra = f" (Kafka {settings.kafka.version})" if name == "kafka" else ""
        print(f"{name:<9} {address}{extra}")
    print(f"infra up in {time.monotonic() - started:.1f} s (state: {settings.infra_dir})")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    for name, stopped in infra.down(settings, only=args.only).items():
        print(f"{name:<9} {'stopped' if stopped else 'was not running'}")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    statuses = infra.status(settings)
    for st in statuses:
        print(st.line())
    return 0 if all(st.ok for st in statuses) else 1
