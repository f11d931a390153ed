"""The AsyncAPI operations say what kilowatch does on each topic: ``send`` where some part of it
produces to the topic, ``receive`` where some part consumes from it. The expected pairs are derived
from the source (every ``settings.kafka.topic("<kind>")`` and ``ctx.<kind>_topic`` reference, followed
through local names to the call that uses it), not listed by hand."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from stream_app.devtools.export import ROOT, asyncapi
from stream_app.settings import TOPIC_KINDS, Settings

# Where kilowatch produces and consumes (the dev tools only simulate devices and export documents).
SOURCES = ("agents", "api", "stream_app")
EXCLUDED = ("stream_app/devtools",)

SEND = frozenset({"send", "send_soon", "send_and_wait", "produce", "publish"})
RECEIVE = frozenset({"agent", "subscribe", "subscribe_topic", "assign", "tail_from_beginning"})
# Calls that wrap a topic without using it: app.topic(name), TopicPartition(name, p).
WRAPPERS = frozenset({"topic", "TopicPartition"})
ATTRIBUTES = {f"{kind.replace('-', '_')}_topic": kind for kind in TOPIC_KINDS}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _references(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """(topic kind, node) of every direct reference to a topic."""
    refs: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _name(node.func) == "topic"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in TOPIC_KINDS
        ):
            refs.append((str(node.args[0].value), node))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES and isinstance(node.ctx, ast.Load):
            refs.append((ATTRIBUTES[node.attr], node))
    return refs


def roles_in(source: str) -> set[tuple[str, str]]:
    """The (topic kind, "send" | "receive") pairs one module's code performs."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def scope(node: ast.AST) -> ast.AST:
        while node in parents and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node = parents[node]
        return node

    def roles(node: ast.AST, seen: set[str]) -> set[str]:
        found: set[str] = set()
        child, parent = node, parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.Attribute) and parent.value is child:
                call = parents.get(parent)
                if parent.attr in SEND and isinstance(call, ast.Call) and call.func is parent:
                    found.add("send")
                return found
            if isinstance(parent, ast.keyword) and parent.arg == "topics":
                found.add("receive")
                return found
            if isinstance(parent, ast.Call) and child is not parent.func:
                name = _name(parent.func)
                if name in SEND:
                    found.add("send")
                    return found
                if name in RECEIVE:
                    found.add("receive")
                    return found
                if name not in WRAPPERS:
                    return found
            elif isinstance(parent, ast.Assign):
                for target in parent.targets:
                    if isinstance(target, ast.Name) and target.id not in seen:
                        for use in ast.walk(scope(parent)):
                            if (
                                isinstance(use, ast.Name)
                                and use.id == target.id
                                and isinstance(use.ctx, ast.Load)
                            ):
                                found |= roles(use, seen | {target.id})
                return found
            elif isinstance(parent, ast.stmt):
                return found
            child, parent = parent, parents.get(parent)
        return found

    return {(kind, role) for kind, node in _references(tree) for role in roles(node, set())}


def roles_in_code() -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(EXCLUDED):
                pairs |= roles_in(Path(path).read_text())
    return pairs


def test_operations_match_what_the_code_produces_and_consumes() -> None:
    doc = asyncapi(Settings.model_construct())
    by_channel = {name.replace("_", "-"): name for name in doc["channels"]}
    documented = {
        (kind, op["action"])
        for kind, name in by_channel.items()
        for op in doc["operations"].values()
        if op["channel"]["$ref"] == f"#/channels/{name}"
    }
    derived = roles_in_code()
    assert {kind for kind, _ in derived} == set(TOPIC_KINDS), "every topic is used by some code"
    assert documented == derived, (
        f"documented only: {sorted(documented - derived)}; in the code only: {sorted(derived - documented)}"
    )
    for op in doc["operations"].values():
        assert op["action"] in {"send", "receive"} and op["description"]


def test_derivation_follows_names_wrappers_and_calls() -> None:
    """The derivation itself, on the shapes the code uses (so the test above cannot pass vacuously)."""
    source = textwrap.dedent(
        """
        def register(app, ctx, settings, producer):
            requests = app.topic(settings.kafka.topic("training-requests"), **raw)
            updates = settings.kafka.topic("model-updates")

            @app.agent(requests)
            async def on_request(stream):
                await requests.send(key=b"a", value=b"{}")

            async def follow(consumer):
                consumer.assign([TopicPartition(updates, p) for p in range(8)])

            ctx.anomalies_topic.send_soon(key=b"a", value=b"{}")
            producer.produce(settings.kafka.topic("dead-letters"), b"k", b"v")
            sink(topics=(settings.kafka.topic("forecasts"),))
            producer.partitions_for(settings.kafka.topic("readings"))
            log.info("published to %s", settings.kafka.topic("scores"))
        """
    )
    assert roles_in(source) == {
        ("training-requests", "receive"),
        ("training-requests", "send"),
        ("model-updates", "receive"),
        ("anomalies", "send"),
        ("dead-letters", "send"),
        ("forecasts", "receive"),
    }
