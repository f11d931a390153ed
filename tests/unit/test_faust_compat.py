"""The fence around faust internals (``stream_app/kafka/faust_compat``): the upstream sources it copied
or relies on are still the ones it was written against, the private names it touches still exist,
and no module outside it imports a private faust name."""

from __future__ import annotations

import ast
import contextvars
import hashlib
import importlib
import inspect
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.streams import current_event
from faust.transport.conductor import Conductor
from faust.transport.consumer import Consumer

from stream_app.kafka.batching import ReadingsBuffer
from stream_app.kafka.faust_compat import upstream
from stream_app.kafka.faust_compat.consumer import BatchReadingsConsumer
from stream_app.kafka.faust_compat.internals import set_current_event, subscribe_topic

ROOT = Path(__file__).resolve().parents[2]
FENCE = ROOT / "stream_app" / "kafka" / "faust_compat"
OUR_PACKAGES = ("agents", "stream_app", "api", "trainers", "schemas", "bench")

RESYNC = """\
faust-streaming's {name} is not the source the fence was written against (faust-streaming {version}):
installed sha256 {actual}, recorded {recorded}.
Re-sync (stream_app/kafka/faust_compat/UPSTREAM.md, "Upgrading faust"): diff the installed source
against faust-streaming {version}'s, carry the upstream change into the fence's copy or override (or
check that it does not matter to it), then record the new sha256 and version in
stream_app/kafka/faust_compat/upstream.py."""


def upstream_function(name: str) -> Any:
    module, qualname = name.split(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", sorted(upstream.UPSTREAM_SHA256))
def test_the_upstream_source_the_fence_copies_or_relies_on_is_unchanged(name: str) -> None:
    source = inspect.getsource(upstream_function(name))
    actual = hashlib.sha256(source.encode()).hexdigest()
    recorded = upstream.UPSTREAM_SHA256[name]
    assert actual == recorded, RESYNC.format(
        name=name, version=upstream.FAUST_VERSION, actual=actual, recorded=recorded
    )


def test_the_private_names_the_fence_touches_still_exist() -> None:
    declared = inspect.get_annotations(Consumer)  # the consumer's bookkeeping attributes
    for attr in (
        "_read_offset",
        "_acked",
        "_acked_index",
        "_committed_offset",
        "_gap",
        "_unacked_messages",
        "_n_acked",
        "_commit_every",
    ):
        assert attr in declared, f"faust's Consumer no longer declares {attr}"
    for method in ("_drain_messages", "_new_offset", "_add_gap"):
        assert callable(getattr(Consumer, method, None)), f"faust's Consumer has no {method}"
    assert "self._topics =" in inspect.getsource(Conductor.__init__)


def test_set_current_event_is_what_faust_table_writes_read() -> None:
    class Event:  # weakly referenceable stand-in for a faust EventT
        pass

    event = Event()

    def check() -> None:
        set_current_event(event)  # type: ignore[arg-type]
        assert current_event() is event

    contextvars.copy_context().run(check)


def test_subscribe_topic_and_install_the_consumer_on_an_unstarted_app() -> None:
    app = faust.App("faust-compat-test", broker="kafka://localhost:1", web_enabled=False)
    topic = app.topic("faust-compat-test.readings", key_type=bytes, value_type=bytes)
    subscribe_topic(app, topic)
    assert topic in app.topics
    buffer = ReadingsBuffer(topic.get_topic_name(), batch_size=10, max_size=100)
    try:
        BatchReadingsConsumer.install(app, buffer)
        assert app.transport.Consumer is BatchReadingsConsumer
        assert BatchReadingsConsumer.readings_buffer is buffer
    finally:
        BatchReadingsConsumer.readings_buffer = None


def private_faust_imports(path: Path) -> list[str]:
    """``from faust... import _x`` and ``import faust..._x`` in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "faust":
            parts = (node.module or "").split(".")
            names = [a.name for a in node.names]
            if any(p.startswith("_") for p in parts) or any(n.startswith("_") for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "faust" and any(p.startswith("_") for p in parts):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_the_fence_imports_private_faust_names() -> None:
    outside = [
        hit
        for package in OUR_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if FENCE not in path.parents
        for hit in private_faust_imports(path)
    ]
    assert not outside, f"private faust names imported outside stream_app/kafka/faust_compat: {outside}"
