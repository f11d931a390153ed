"""Local infrastructure (Kafka, PostgreSQL, Redis) for development, tests and the demo.

``up`` is idempotent and records what it started (pid + kernel start time) under
``settings.infra_dir/pids``; ``down`` stops only those processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from schemas.errors import ConfigError
from stream_app.devtools.infra import kafka, postgres, procs, redis
from stream_app.settings import Settings

SERVICES: tuple[str, ...] = ("kafka", "postgres", "redis")
# Fast services first: a failing Kafka resolve still leaves PostgreSQL and Redis usable.
_START_ORDER: tuple[str, ...] = ("postgres", "redis", "kafka")
_MODULES: dict[str, ModuleType] = {"kafka": kafka, "postgres": postgres, "redis": redis}

__all__ = ["SERVICES", "ServiceStatus", "down", "parse_only", "status", "up"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    address: str
    version: str = ""
    pid: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        """Running and as the settings ask (a note flags e.g. another Kafka version)."""
        return self.running and not self.note

    def line(self) -> str:
        state = "running" if self.running else "stopped"
        extra = f" (Kafka {self.version})" if self.version else ""
        pid = f" pid {self.pid}" if self.pid else ""
        note = f" [{self.note}]" if self.note else ""
        return f"{self.name:<9} {state:<8} {self.address}{extra}{pid}{note}"


def parse_only(only: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"kafka,redis"`` or an iterable -> validated service names, in canonical order."""
    if only is None:
        return SERVICES
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
    unknown = sorted(set(names) - set(SERVICES))
    if unknown or not names:
        raise ConfigError(f"unknown service(s) {unknown or names}; choose from {', '.join(SERVICES)}")
    return tuple(s for s in SERVICES if s in names)


def _lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    return procs.locked(settings.infra_dir / ".lock")


def up(settings: Settings, only: str | Iterable[str] | None = None) -> dict[str, str]:
    """Start the selected services unless already running; returns ``{name: "host:port"}``."""
    selected = parse_only(only)
    addresses: dict[str, str] = {}
    with _lock(settings):
        for name in _START_ORDER:
            if name in selected:
                addresses[name] = _MODULES[name].start(settings)
    return {name: addresses[name] for name in selected}


def down(settings: Settings, only: str | Iterable[str] | None = None) -> dict[str, bool]:
    """Stop what ``up`` started; ``{name: True}`` when a process was stopped."""
    selected = parse_only(only)
    with _lock(settings):
        return {name: bool(_MODULES[name].stop(settings)) for name in reversed(selected)}


def status(settings: Settings) -> list[ServiceStatus]:
    """One entry per service: running means our process is alive *and* its port accepts connections."""
    out: list[ServiceStatus] = []
    for name in SERVICES:
        mod = _MODULES[name]
        rec: procs.PidRecord | None = mod.running(settings)
        if name == "kafka":
            default_addr = "{}:{}".format(*procs.split_hostport(settings.kafka.bootstrap))
            default_version = settings.kafka.version
        else:
            port = settings.postgres.port if name == "postgres" else settings.redis.port
            default_addr = f"{mod.LISTEN}:{port}"
            default_version = ""
        if rec is None:
            out.append(ServiceStatus(name, False, default_addr, default_version))
            continue
        host, port = procs.split_hostport(rec.address)
        is_open = procs.port_open(host, port)
        note = "" if is_open else "process alive but port closed"
        if is_open and rec.version != default_version:
            note = f"settings ask for Kafka {default_version}"
        elif is_open and rec.address != default_addr:
            note = f"settings ask for {default_addr}"
        out.append(ServiceStatus(name, is_open, rec.address, rec.version, rec.pid, note))
    return out
