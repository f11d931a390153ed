"""Worker gauges (lag, table size), active-model gauges and the API metrics middleware."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from stream_app import metrics
from stream_app.worker import monitor


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_partition_lags_skip_unknown_and_clip_at_zero() -> None:
    high = {("t", 0): 120, ("t", 1): None, ("t", 2): 50, ("t", 3): 7}
    pos = {("t", 0): 100, ("t", 1): 5, ("t", 2): 60}
    assert monitor.partition_lags(high, pos) == {("t", 0): 20, ("t", 2): 0}


def test_publish_lags_removes_partitions_moved_away() -> None:
    published = monitor.publish_lags({("lagtest", 0): 5, ("lagtest", 1): 9}, set())
    assert sample("kilowatch_consumer_lag_messages", topic="lagtest", partition="1") == 9
    monitor.publish_lags({("lagtest", 0): 3}, published)
    assert sample("kilowatch_consumer_lag_messages", topic="lagtest", partition="0") == 3
    assert sample("kilowatch_consumer_lag_messages", topic="lagtest", partition="1") is None


class FakeDb:
    def __init__(self, n: int) -> None:
        self.n = n

    def property_int_value(self, name: str) -> int:
        assert name == "rocksdb.estimate-num-keys"
        return self.n


def test_table_keys_sums_rocksdb_partitions_or_counts_memory() -> None:
    class Rocks:
        _dbs = {0: FakeDb(10), 3: FakeDb(32)}

    class Memory:
        data = {b"a": b"1", b"b": b"2"}

    assert monitor.table_keys(Rocks()) == 42
    assert monitor.table_keys(Memory()) == 2


def test_active_models_counts_by_type_and_hides_assets_by_default() -> None:
    before = sample("kilowatch_active_models", model_type="lgbm-t") or 0.0
    tracker = metrics.ActiveModels(per_asset=False)
    tracker.set("a1", "lgbm-t", 1)
    tracker.set("a2", "lgbm-t", 4)
    tracker.set("a1", "tft-t", 2)  # a1 moves to another model type
    assert sample("kilowatch_active_models", model_type="lgbm-t") == before + 1
    assert sample("kilowatch_active_models", model_type="tft-t") == 1
    assert sample("kilowatch_active_model_version", asset_id="a1", model_type="tft-t") is None
    tracker.drop("a2")
    assert sample("kilowatch_active_models", model_type="lgbm-t") == before


def test_active_models_per_asset_when_allowed() -> None:
    tracker = metrics.ActiveModels(per_asset=True)
    tracker.set("p1", "lgbm-p", 3)
    assert sample("kilowatch_active_model_version", asset_id="p1", model_type="lgbm-p") == 3
    tracker.set("p1", "tft-p", 5)
    assert sample("kilowatch_active_model_version", asset_id="p1", model_type="lgbm-p") is None
    assert sample("kilowatch_active_model_version", asset_id="p1", model_type="tft-p") == 5
    tracker.drop("p1")
    assert sample("kilowatch_active_model_version", asset_id="p1", model_type="tft-p") is None


class Route:
    path = "/api/v1/assets/{asset_id}/predict"


async def run_asgi(app: Any, path: str) -> None:
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": path}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"


async def test_middleware_labels_route_template_not_raw_path() -> None:
    async def routed(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"].startswith("/api/v1/assets/"):
            scope["route"] = Route()  # what FastAPI's router puts in the scope
            status = 200
        else:
            status = 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = metrics.MetricsMiddleware(routed)
    name = "kilowatch_api_requests_total"
    before = sample(name, method="POST", route=Route.path, status="200") or 0.0
    await run_asgi(app, "/api/v1/assets/meter-1/predict")
    await run_asgi(app, "/api/v1/assets/meter-2/predict")
    await run_asgi(app, "/random/scan/path")
    assert sample(name, method="POST", route=Route.path, status="200") == before + 2
    assert (sample(name, method="POST", route="unmatched", status="404") or 0) >= 1
    assert sample(name, method="POST", route="/api/v1/assets/meter-1/predict", status="200") is None
    count = sample("kilowatch_api_request_duration_seconds_count", method="POST", route=Route.path)
    assert count is not None and count >= 2


async def test_middleware_counts_a_crash_as_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    app = metrics.MetricsMiddleware(broken)
    before = sample("kilowatch_api_requests_total", method="POST", route="unmatched", status="500") or 0.0
    try:
        await app({"type": "http", "method": "POST", "path": "/x"}, None, None)  # type: ignore[arg-type]
    except RuntimeError:
        pass
    else:
        raise AssertionError("the middleware must not swallow the error")
    assert (
        sample("kilowatch_api_requests_total", method="POST", route="unmatched", status="500") == before + 1
    )
