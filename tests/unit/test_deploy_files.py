"""The compose file, Prometheus scrape targets and Grafana mounts agree with each other."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())


def test_compose_has_every_service_the_issue_lists() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres", "redis", "api", "prometheus", "grafana", "simulator"} <= set(services)
    workers = [n for n, s in services.items() if s.get("command", [None])[0] == "worker"]
    assert len(workers) >= 2
    assert services["simulator"]["profiles"] == ["demo"]
    assert services["api"]["command"][0] == "api"
    # each worker keeps its RocksDB state in its own volume
    assert len({services[w]["volumes"][0].split(":")[0] for w in workers}) == len(workers)


def test_prometheus_scrapes_the_compose_services() -> None:
    services = compose()["services"]
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    for job in prom["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            assert host in services, target
            env = services[host].get("environment", {})
            if job["job_name"] == "kilowatch-worker":
                assert env["KILOWATCH_METRICS_PORT"] == port


def test_mounted_deploy_folders_exist_and_ports_bind_to_loopback() -> None:
    for name, svc in compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_dir(), (name, source)
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
