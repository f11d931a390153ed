"""The results sink inside a worker: a task (not a faust agent) running the shared sink loop.

Its consumer is a confluent-kafka one in the group ``<app_id>-results``, outside faust's stream
machinery, so storing results costs the scoring path nothing but the CPU of the writes; a database
outage or a failure of the sink is logged and retried and never stops the worker.
"""

from __future__ import annotations

import faust

from agents.context import AgentContext
from stream_app.sinks import sink
from stream_app.sinks.results import results_sink


def register(app: faust.App, ctx: AgentContext) -> None:
    settings = ctx.settings
    spec = results_sink(settings)

    @app.task
    async def store_results() -> None:
        await sink.supervise(settings, spec)
