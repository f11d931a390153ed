"""Issue 14, the API's part, without backing services: scopes, body limits before reading or
authentication, the readings count checked before validation, outage errors answered 503, the client
address behind trusted proxies, and bounds on every training parameter."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import given, settings
from hypothesis import strategies as st
from redis import exceptions as redis_errors

from api.app import API_PREFIX, V1, create_app
from api.http import error_handlers
from api.http.body_limits import BodyLimitMiddleware, BodyLimits
from api.http.client_address import client_address, networks
from api.http.errors import ApiError
from api.http.request_context import send_error
from api.routes import readings
from api.services import keys
from stream_app.settings import Settings
from trainers.models import COMMON_PARAMS, MODEL_PARAMS, PARAM_BOUNDS, ParamError, check_params, cores

KEY = "kw_abcdefgh_" + "s" * 40
MODEL_ROUTES = {
    ("POST", "/api/v1/training-jobs"),
    ("POST", "/api/v1/jobs/{job_id}/cancel"),
    ("POST", "/api/v1/assets/{asset_id}/models/{version}/activate"),
    ("POST", "/api/v1/assets/{asset_id}/models/rollback"),
    ("DELETE", "/api/v1/assets/{asset_id}/models/{version}"),
    ("POST", "/api/v1/assets"),
    ("PATCH", "/api/v1/assets/{asset_id}"),
}


def _scopes() -> dict[tuple[str, str], str]:
    out = {}
    for router in V1:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            stack, scope = list(route.dependant.dependencies), None
            while stack:
                dep = stack.pop()
                name = getattr(dep.call, "__name__", "")
                if name.startswith("require_"):
                    scope = name.removeprefix("require_")
                stack.extend(dep.dependencies)
            path = (API_PREFIX + route.path).replace(":path}", "}")
            for method in route.methods - {"HEAD"}:
                out[(method, path)] = scope or ""
    return out


def test_model_control_needs_the_model_scope_and_write_is_ingestion_only() -> None:
    scopes = _scopes()
    for route in MODEL_ROUTES:
        assert scopes.get(route) == "model", (route, scopes.get(route))
    assert {r for r, s in scopes.items() if s == "write"} == {
        ("POST", "/api/v1/readings"),
        # datasets are data ingestion too: upload, rename/re-zone, delete, preprocess (issue 17)
        ("POST", "/api/v1/datasets"),
        ("PATCH", "/api/v1/datasets/{dataset_id}"),
        ("DELETE", "/api/v1/datasets/{dataset_id}"),
        ("POST", "/api/v1/datasets/{dataset_id}/preprocess"),
    }
    assert keys.grants(frozenset({"model"}), "model") and keys.grants(frozenset({"admin"}), "model")
    assert not keys.grants(frozenset({"write"}), "model") and not keys.grants(frozenset({"model"}), "write")
    assert not keys.grants(frozenset({"model"}), "read")


# ---- body limits ---------------------------------------------------------------------------------


class Receiver:
    """An ASGI receive that counts how often it was called (a body that is never read: 0)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.calls = list(chunks), 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        body = self.chunks.pop(0) if self.chunks else b""
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}


async def _run(
    limits: BodyLimits, method: str, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, Receiver, dict[str, Any]]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        seen["body"] = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def reply(scope: Any, send: Any, err: Any) -> None:
        await send_error(scope, send, err, "en-US")

    mw = BodyLimitMiddleware(app, limits, lambda k: keys.parse(k) is not None, reply)
    sent: list[dict[str, Any]] = []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    receiver = Receiver(chunks)
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
        "state": {"request_id": "r1"},
    }
    try:
        await mw(scope, receiver, send)
    except Exception as exc:
        seen["raised"] = exc
        return 413 if getattr(exc, "status_code", None) == 413 else 500, receiver, seen
    if sent:
        seen["reply"] = orjson.loads(sent[1]["body"]) if len(sent) > 1 else None
        seen["headers"] = dict(sent[0]["headers"])
    return int(sent[0]["status"]), receiver, seen


LIMITS = BodyLimits(bulk=1_000_000, small=1_000)
AUTH = {"Authorization": f"Bearer {KEY}"}


async def test_a_declared_body_over_the_routes_limit_is_413_before_a_byte_is_read() -> None:
    cases = [
        ("POST", "/api/v1/api-keys", 1_001),
        ("POST", "/api/v1/training-jobs", 1_001),
        ("POST", "/api/v1/readings", 1_000_001),
        ("POST", "/api/v1/assets/a/b/predict", 1_000_001),
        ("POST", "/api/v1/assets/x/detect_anomalies", 1_000_001),
    ]
    for method, path, size in cases:
        for headers in (AUTH, {}):  # with or without a key: the size is checked first
            status, receiver, seen = await _run(
                LIMITS, method, path, {**headers, "Content-Length": str(size)}, [b"x" * size]
            )
            assert status == 413 and receiver.calls == 0, (path, status)
            assert seen["reply"]["error"]["code"] == "FILE_TOO_LARGE"
    # Within the route's limit: passed on.
    status, _r, seen = await _run(
        LIMITS, "POST", "/api/v1/readings", {**AUTH, "Content-Length": "5000"}, [b"x" * 5000]
    )
    assert status == 200 and len(seen["body"]) == 5000


async def test_a_chunked_body_is_counted_and_refused_once_over() -> None:
    chunks = [b"x" * 400] * 10  # 4,000 bytes, no Content-Length
    status, receiver, seen = await _run(
        LIMITS, "POST", "/api/v1/api-keys", {**AUTH, "Transfer-Encoding": "chunked"}, chunks
    )
    assert status == 413 and receiver.calls == 3  # 400, 800, 1200 > 1000: stopped at the third chunk
    assert seen["raised"].limit == 1_000


async def test_a_body_without_a_well_formed_key_is_401_without_reading_it() -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        for extra in ({"Content-Length": "900"}, {"Transfer-Encoding": "chunked"}):
            status, receiver, seen = await _run(
                LIMITS, "POST", "/api/v1/readings", {**headers, **extra}, [b"x" * 900]
            )
            assert status == 401 and receiver.calls == 0
            assert seen["reply"]["error"]["code"] == "UNAUTHORIZED"
            assert seen["headers"][b"www-authenticate"] == b"Bearer"
    # Open routes and bodiless requests are not touched.
    assert (await _run(LIMITS, "GET", "/api/v1/assets", {}, []))[0] == 200
    assert (await _run(LIMITS, "GET", "/healthz", {}, []))[0] == 200


async def test_an_unauthenticated_16_mib_body_is_refused_fast_by_the_app() -> None:
    app = create_app(Settings())  # type: ignore[call-arg]
    big = b'{"readings": [' + b'{"asset_id":"a","timestamp":"2024-01-01T00:00:00Z","value":1},' * 270_000
    big = big[:-1] + b"]}"
    assert 16_000_000 < len(big) <= Settings().api.max_body_bytes  # type: ignore[call-arg]  # (16 MiB)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        started = time.perf_counter()
        r = await client.post("/api/v1/readings", content=big, headers={"Content-Type": "application/json"})
        elapsed = time.perf_counter() - started
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert elapsed < 0.5, elapsed  # no parse of 16 MiB of JSON (that takes seconds)


# ---- the readings count before validation ----------------------------------------------------------


def test_readings_over_the_count_are_refused_before_any_item_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("items were validated")

    monkeypatch.setattr(readings.ReadingsCreate, "model_validate", never)
    raw = orjson.dumps({"readings": [{"bad": i} for i in range(11)]})
    with pytest.raises(ApiError) as caught:
        readings.parse_batch(raw, 10)
    err = caught.value
    assert err.status == 413 and err.details[0]["loc"] == ["body", "readings"]  # type: ignore[index]


def test_readings_within_the_count_are_validated_with_their_location() -> None:
    from fastapi.exceptions import RequestValidationError

    raw = orjson.dumps({"readings": [{"asset_id": "a", "timestamp": "2024-01-01T00:00:00Z", "value": "x"}]})
    with pytest.raises(RequestValidationError) as caught:
        readings.parse_batch(raw, 10)
    assert caught.value.errors()[0]["loc"][:3] == ("body", "readings", 0)
    with pytest.raises(ApiError) as bad_json:
        readings.parse_batch(b'{"readings": [', 10)
    assert bad_json.value.status == 422
    bare_nan = b'{"readings": [{"asset_id": "a", "timestamp": "2024-01-01T00:00:00Z", "value": NaN}]}'
    with pytest.raises(RequestValidationError) as nan:  # (Python's parser takes NaN: pydantic refuses it)
        readings.parse_batch(bare_nan, 10)
    assert nan.value.errors()[0]["loc"] == ("body", "readings", 0, "value")
    deep = b'{"readings": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ApiError):
        readings.parse_batch(deep, 10)


# ---- outages: 503 with Retry-After ---------------------------------------------------------------


OUTAGES: list[BaseException] = [
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("pool is closing"),
    ConnectionRefusedError(111, "Connect call failed"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5432)"),
    redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    redis_errors.TimeoutError("Timeout reading from socket"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=[type(e).__name__ for e in OUTAGES])
async def test_an_outage_error_is_503_with_retry_after_and_the_envelope(exc: BaseException) -> None:
    app = FastAPI()
    app.state.settings = Settings()  # type: ignore[call-arg]
    error_handlers.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/boom")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert body["status"] == "error" and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Traceback" not in r.text and str(exc) not in r.text


# ---- the client address --------------------------------------------------------------------------

ips = st.ip_addresses().map(str)


@given(peer=ips, forwarded=st.lists(ips, max_size=5))
def test_without_trusted_proxies_forwarded_for_is_ignored(peer: str, forwarded: list[str]) -> None:
    assert client_address(peer, ", ".join(forwarded), ()) == peer


@given(peer=ips, forwarded=st.text(max_size=200))
def test_a_peer_that_is_no_trusted_proxy_is_the_client_whatever_it_forwards(
    peer: str, forwarded: str
) -> None:
    trusted = networks(["10.9.9.0/24"])
    if ipaddress.ip_address(peer) in trusted[0]:
        return
    assert client_address(peer, forwarded, trusted) == peer


def test_behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    trusted = networks(["10.0.0.0/8", "::1"])
    # The client spoofs a left entry; the proxies append what they saw.
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.7, 10.0.0.1", trusted) == "203.0.113.7"
    assert client_address("::1", "203.0.113.9", trusted) == "203.0.113.9"
    assert client_address("10.0.0.2", "garbage", trusted) == "10.0.0.2"
    assert client_address("10.0.0.2", None, trusted) == "10.0.0.2"
    assert client_address(None, "1.2.3.4", trusted) == "unknown"
    with pytest.raises(ValueError):
        networks(["not-a-network"])


# ---- training parameter bounds -------------------------------------------------------------------

NUMERIC = sorted(PARAM_BOUNDS)
absurd = st.one_of(
    st.integers(min_value=10**7, max_value=10**30),
    st.floats(min_value=1e7, max_value=1e300),
    st.integers(max_value=-1),
    st.floats(max_value=-1e-9, min_value=-1e300),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), True, "1", None, [1], {"a": 1}]),
)


def _types_of(param: str) -> list[str]:
    return [t for t, names in MODEL_PARAMS.items() if param in names or param in COMMON_PARAMS]


@settings(max_examples=300, deadline=None)
@given(param=st.sampled_from(NUMERIC), value=absurd)
def test_absurd_training_params_are_refused_naming_the_param(param: str, value: Any) -> None:
    if param == "dropout" and value is not None and type(value) in (int, float) and -1 < value < 1e6:
        return
    for model_type in _types_of(param):
        with pytest.raises(ParamError) as caught:
            check_params(model_type, {param: value})
        assert caught.value.param == param and param in str(caught.value)


def test_bounds_cover_every_numeric_param_and_sane_values_pass() -> None:
    text_params = {"target", "covariates", "future_covariates", "detector", "target_transform", "loss"}
    numeric = (COMMON_PARAMS | set().union(*MODEL_PARAMS.values())) - text_params
    assert numeric == set(PARAM_BOUNDS)
    check_params("tide", {"n_epochs": 8, "hidden_size": 64, "batch_size": 64, "lr": 3e-3, "dropout": 0.1})
    check_params(
        "lightgbm", {"threads": cores(), "window_hours": 6, "learning_rate": 0.05, "n_estimators": 80}
    )
    for bad in (
        {"threads": cores() + 1},
        {"n_epochs": 2.5},
        {"covariates": ["c"] * 65},
        {"future_covariates": ["c"] * 65},
        {"target": "t" * 200},
    ):
        with pytest.raises(ParamError):
            check_params("tide", bad)


def test_check_spec_answers_422_on_the_param() -> None:
    from api.routes.training_jobs import check_spec

    class _Res:
        settings = Settings()  # type: ignore[call-arg]
        extensions: dict[str, Any] = {}

    with pytest.raises(ApiError) as caught:
        check_spec(_Res(), "tide", {"hidden_size": 10**9})  # type: ignore[arg-type]
    assert caught.value.status == 422
    assert caught.value.details[0]["loc"] == ["body", "params", "hidden_size"]  # type: ignore[index]
    for seed in (-1, 2**32, 10**40, 1.5, "7", True):
        with pytest.raises(ApiError) as bad_seed:
            check_spec(_Res(), "tide", {"seed": seed})  # type: ignore[arg-type]
        assert bad_seed.value.details[0]["loc"] == ["body", "params", "seed"]  # type: ignore[index]
    check_spec(_Res(), "tide", {"seed": 2**32 - 1})  # type: ignore[arg-type]
