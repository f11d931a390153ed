"""Rendering of the Kafka files: the 3.9 / 4.x differences, without a JVM."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stream_app.devtools.infra import kafka_config as kc

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def _render(version: str) -> dict[str, str]:
    return _props(
        kc.render_server_properties(
            version=version, host="127.0.0.1", port=19092, controller_port=19093, log_dir=Path("/x/kafka-d")
        )
    )


@pytest.mark.parametrize("version", ["3.9.1", "4.1.1"])
def test_server_properties_common(version: str) -> None:
    p = _render(version)
    assert p["process.roles"] == "broker,controller"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert p["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert p["group.initial.rebalance.delay.ms"] == "0"
    assert p["auto.create.topics.enable"] == "false"
    assert p["num.partitions"] == "8"
    assert p["log.dirs"] == "/x/kafka-d"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert p[key] == "1"


def test_server_properties_share_coordinator_only_on_4x() -> None:
    assert "share.coordinator.state.topic.replication.factor" not in _render("3.9.1")
    p4 = _render("4.1.1")
    assert p4["share.coordinator.state.topic.replication.factor"] == "1"
    assert p4["share.coordinator.state.topic.min.isr"] == "1"


def _pom_deps(version: str) -> list[tuple[str, str, str]]:
    root = ET.fromstring(kc.render_pom(version))
    return [
        (d.findtext("m:groupId", namespaces=NS) or "", d.findtext("m:artifactId", namespaces=NS) or "",
         d.findtext("m:version", namespaces=NS) or "")
        for d in root.iterfind("m:dependencies/m:dependency", NS)
    ]  # fmt: skip


def test_pom_39_uses_reload4j() -> None:
    deps = _pom_deps("3.9.1")
    assert ("org.apache.kafka", "kafka_2.13", "3.9.1") in deps
    assert ("org.slf4j", "slf4j-reload4j", "1.7.36") in deps
    assert ("ch.qos.reload4j", "reload4j", "1.2.25") in deps


def test_pom_4x_uses_log4j2_binding() -> None:
    deps = _pom_deps("4.1.1")
    assert ("org.apache.kafka", "kafka_2.13", "4.1.1") in deps
    assert ("org.apache.logging.log4j", "log4j-slf4j-impl", kc.LOG4J2_VERSION) in deps
    assert not any(a == "slf4j-reload4j" for _, a, _ in deps)


def test_pom_pins_dependency_plugin() -> None:
    root = ET.fromstring(kc.render_pom("3.9.1"))
    plugin = root.find("m:build/m:plugins/m:plugin", NS)
    assert plugin is not None
    assert plugin.findtext("m:artifactId", namespaces=NS) == "maven-dependency-plugin"
    assert plugin.findtext("m:version", namespaces=NS) == kc.DEPENDENCY_PLUGIN_VERSION


def test_logging_flags() -> None:
    cfg = Path("/cfg/log")
    assert kc.logging_jvm_flag("3.9.1", cfg) == "-Dlog4j.configuration=file:///cfg/log"
    assert kc.logging_jvm_flag("4.1.1", cfg) == "-Dlog4j2.configurationFile=/cfg/log"
    assert kc.logging_config("3.9.1")[0] == "log4j.properties"
    assert kc.logging_config("4.0.0")[0] == "log4j2.properties"


def test_major_rejects_garbage() -> None:
    assert kc.major("10.0.0") == 10
    with pytest.raises(ValueError, match="not a Kafka version"):
        kc.major("latest")


def test_random_cluster_id_format() -> None:
    ids = {kc.random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)
