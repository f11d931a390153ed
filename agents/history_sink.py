"""The readings-history sink inside a worker (opt-in, ``history_enabled``): the shared sink loop in a
task with its own confluent consumer in the group ``<app_id>-history``, the same group as
``kilowatch history-sink`` (so running both splits the work rather than doubling it).

Off by default: it decodes every reading a second time, and a deployment that trains from history
usually runs ``kilowatch history-sink`` as its own process instead.
"""

from __future__ import annotations

import faust

from agents.context import AgentContext
from stream_app.sinks import sink
from stream_app.sinks.history import history_sink


def register(app: faust.App, ctx: AgentContext) -> None:
    settings = ctx.settings
    spec = history_sink(settings)

    @app.task
    async def store_history() -> None:
        await sink.supervise(settings, spec)
