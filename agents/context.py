"""What every agent module's ``register(app, ctx)`` gets: the worker's shared objects, typed."""

from __future__ import annotations

from dataclasses import dataclass, field

from faust.types import TopicT
from faust.types.tables import TableT

from stream_app.scoring.pipeline import ScoringPipeline
from stream_app.settings import Settings


@dataclass
class AgentContext:
    """Everything the agents share; built once per worker process by ``stream_app.worker.app``.

    Every topic carries raw bytes (key and value); the state table maps ``<asset>|<slot>`` keys to
    binary state records (``stream_app.scoring.state``)."""

    settings: Settings
    pipeline: ScoringPipeline
    readings_topic: TopicT
    readings_topic_name: str
    anomalies_topic: TopicT
    forecasts_topic: TopicT
    scores_topic: TopicT
    dead_letters_topic: TopicT
    state_table: TableT[bytes, bytes]
    keepalive: list[object] = field(default_factory=list)  # objects only weakly referenced by faust
