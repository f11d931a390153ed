"""POST predict / detect_anomalies on the real PostgreSQL, Redis and Kafka, with real trained bundles
registered as the training jobs register them (artifact store + model_versions)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from api.http.envelope import Envelope
from api.routes.inference import DetectionPublic, PredictionPublic
from api.services.inference import InferenceService
from schemas.events import MAX_ABS
from stream_app import metrics  # noqa: F401  (registers the API metrics)
from stream_app.core import oneshot
from stream_app.lifecycle.artifacts import open_store
from stream_app.store import repository as repo
from tests.conftest import DATA_DIR
from trainers.backend import TrainedModel, TrainSpec, train

from .conftest import Api, api_settings, open_api

pytestmark = pytest.mark.ml
HISTORY = 168


@pytest.fixture(scope="module")
def steel() -> pd.DataFrame:
    df = pd.read_csv(
        DATA_DIR / "energy" / "steel_industry_2018_15min.csv", usecols=["timestamp", "Usage_kWh"]
    )
    return pd.DataFrame(
        {"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"].astype(float)}
    )


@pytest.fixture(scope="module")
def bundles(steel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, TrainedModel]]:
    """Two small LightGBM versions trained on different stretches (input length 97 steps)."""
    out = []
    for k, rows in enumerate((slice(0, 2400), slice(2400, 4800))):
        model = train(steel.iloc[rows].reset_index(drop=True), TrainSpec("lightgbm", {"n_estimators": 40}))
        path = tmp_path_factory.mktemp(f"bundle{k}")
        model.save(path)
        out.append((path, model))
    return out


async def new_asset(api: Api) -> str:
    asset = f"infer-{uuid.uuid4().hex[:8]}"
    await repo.upsert_asset(await api.resources.pool(), asset)
    return asset


async def register(api: Api, asset: str, bundle: Path, activate: bool = True, kind: str = "lightgbm") -> int:
    uri = open_store(api.settings).put_dir(bundle, prefix=asset)
    async with (await api.resources.pool()).acquire() as conn:
        mv = await repo.register_version(
            conn, asset_id=asset, model_type=kind, params={}, metrics={}, artifact_uri=uri, job_id=None
        )
        if activate:
            await repo.activate(conn, asset, mv.version, "test")
    return mv.version


async def activate(api: Api, asset: str, version: int) -> None:
    async with (await api.resources.pool()).acquire() as conn:
        await repo.activate(conn, asset, version, "test")


def points(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}
        for t, v in zip(frame["timestamp"], frame["value"], strict=True)
    ]


def window(steel: pd.DataFrame, start: int, n: int = HISTORY) -> pd.DataFrame:
    return steel.iloc[start : start + n].reset_index(drop=True)


async def predict(api: Api, asset: str, frame: pd.DataFrame, horizon: int = 24, **kw: Any) -> Any:
    body = {"historical_data": points(frame), "forecast_horizon": horizon}
    return await (kw.pop("client", None) or api.client).post(
        f"/api/v1/assets/{asset}/predict", json=body, headers=kw.pop("headers", api.auth("read"))
    )


def forecast_of(r: Any) -> PredictionPublic:
    assert r.status_code == 200, r.text
    return Envelope[PredictionPublic].model_validate(r.json()).data


async def detect_a_planted_spike(
    api: Api, asset: str, steel: pd.DataFrame
) -> tuple[pd.DataFrame, DetectionPublic]:
    """detect_anomalies on 800 steel rows whose row 700 is three times the window's maximum."""
    data = window(steel, 3000, 800)
    data.loc[700, "value"] = data["value"].max() * 3
    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies",
        json={"data_stream": points(data)},
        headers=api.auth("read"),
    )
    return data, Envelope[DetectionPublic].model_validate(r.json()).data


def assert_forecast_equals(got: PredictionPublic, ref: pd.DataFrame) -> None:
    assert [p.timestamp for p in got.forecast_data] == [t.to_pydatetime() for t in ref["timestamp"]]
    for key in ("predicted_value", "lower", "upper"):
        np.testing.assert_allclose(
            [getattr(p, key) for p in got.forecast_data], ref[key], rtol=1e-12, atol=1e-9
        )


@pytest.mark.parametrize("horizon", [24, 1])
async def test_trained_predict_equals_the_trainers_forecast(
    api: Api, steel: pd.DataFrame, bundles: list[tuple[Path, TrainedModel]], horizon: int
) -> None:
    asset = await new_asset(api)
    await register(api, asset, bundles[0][0])
    hist = window(steel, 6000)
    got = forecast_of(await predict(api, asset, hist, horizon))
    assert got.asset_id == asset and got.model_version == "1"
    assert got.model.kind == "trained" and got.model.engine == "native" and got.model.version == 1
    assert got.model.input_length == 97 and got.model.trained_horizon == 24
    assert_forecast_equals(got, bundles[0][1].predict(hist, horizon))


async def test_trained_detect_equals_the_trainers_verdicts(
    api: Api, steel: pd.DataFrame, bundles: list[tuple[Path, TrainedModel]]
) -> None:
    asset = await new_asset(api)
    await register(api, asset, bundles[0][0])
    data = window(steel, 2400, 600)
    data.loc[400, "value"] = data["value"].max() * 3
    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies",
        json={"data_stream": points(data)},
        headers=api.auth("read"),
    )
    assert r.status_code == 200, r.text
    got = Envelope[DetectionPublic].model_validate(r.json()).data
    ref = bundles[0][1].detect(data)
    flagged = ref[ref["is_anomaly"]]
    assert got.model.kind == "trained" and got.points_scored == len(ref)
    assert [a.timestamp for a in got.anomalies] == [t.to_pydatetime() for t in flagged["timestamp"]]
    assert [(a.type, a.reason) for a in got.anomalies] == list(
        zip(flagged["kind"], flagged["reason"], strict=True)
    )
    np.testing.assert_allclose([a.score for a in got.anomalies], flagged["score"], rtol=1e-12)
    np.testing.assert_allclose([a.expected for a in got.anomalies], flagged["expected"], rtol=1e-12)
    spike = [a for a in got.anomalies if a.timestamp == data["timestamp"][400].to_pydatetime()]
    assert spike and spike[0].type == "spike" and spike[0].reason.startswith("Exceeds predicted value by ")


async def test_a_model_without_a_native_path_runs_in_darts(
    api: Api, steel: pd.DataFrame, tmp_path: Path
) -> None:
    model = train(steel.iloc[:2400].reset_index(drop=True), TrainSpec("seasonal_naive", {}))
    model.save(tmp_path / "naive")
    asset = await new_asset(api)
    await register(api, asset, tmp_path / "naive", kind="seasonal_naive")
    hist = window(steel, 5000, 300)
    got = forecast_of(await predict(api, asset, hist))
    assert (
        got.model.kind == "trained"
        and got.model.engine == "darts"
        and got.model.model_type == "seasonal_naive"
    )
    assert_forecast_equals(got, model.predict(hist, 24))
    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies",
        json={"data_stream": points(hist)},
        headers=api.auth("read"),
    )
    det = Envelope[DetectionPublic].model_validate(r.json()).data
    ref = model.detect(hist)
    assert det.points_scored == len(ref) and len(det.anomalies) == int(ref["is_anomaly"].sum())


async def test_a_registered_asset_without_a_model_gets_the_online_model(
    api: Api, steel: pd.DataFrame
) -> None:
    asset = await new_asset(api)
    hist = window(steel, 3000)
    got = forecast_of(await predict(api, asset, hist))
    assert got.model.kind == "online" and got.model.engine == "online" and got.model_version is None
    assert got.model.version is None and got.model.fallback_reason is None
    seconds = (hist["timestamp"].astype("int64") / 1e9).tolist()
    ref = oneshot.forecast(api.settings.detector.params(), seconds, hist["value"].tolist(), 24)
    assert [p.timestamp.timestamp() for p in got.forecast_data] == [p.ts for p in ref]
    assert [p.predicted_value for p in got.forecast_data] == [p.value for p in ref]

    data, det = await detect_a_planted_spike(api, asset, steel)
    assert det.model.kind == "online" and det.points_scored == 800
    spike = [a for a in det.anomalies if a.timestamp == data["timestamp"][700].to_pydatetime()]
    assert spike and spike[0].reason.startswith("Exceeds predicted value by ")


async def test_promotion_and_rollback_are_served_within_the_lookup_time(
    api: Api, steel: pd.DataFrame, bundles: list[tuple[Path, TrainedModel]]
) -> None:
    settings = api_settings(api_model_lookup_s=60.0)
    client, resources = await open_api(settings)
    now = [0.0]
    resources.extensions["inference"] = InferenceService(settings, clock=lambda: now[0])

    def loads() -> float:
        return REGISTRY.get_sample_value("kilowatch_api_model_cache_total", {"outcome": "load"}) or 0.0

    try:
        asset = await new_asset(api)
        hist = window(steel, 7000)
        v1 = await register(api, asset, bundles[0][0])
        assert forecast_of(await predict(api, asset, hist, client=client)).model_version == str(v1)

        v2 = await register(api, asset, bundles[1][0])  # promoted: served once the lookup expires
        assert forecast_of(await predict(api, asset, hist, client=client)).model_version == str(v1)
        now[0] += 60.0
        before = loads()
        replies = await asyncio.gather(*(predict(api, asset, hist, client=client) for _ in range(10)))
        assert {forecast_of(r).model_version for r in replies} == {str(v2)}
        assert loads() - before == 1  # ten concurrent first requests, one load
        assert_forecast_equals(forecast_of(replies[0]), bundles[1][1].predict(hist, 24))

        await activate(api, asset, v1)  # rolled back
        now[0] += 60.0
        got = forecast_of(await predict(api, asset, hist, client=client))
        assert got.model_version == str(v1) and loads() - before == 1  # v1 still loaded
        assert_forecast_equals(got, bundles[0][1].predict(hist, 24))
    finally:
        await client.aclose()
        await resources.close()


async def test_without_postgresql_known_assets_keep_their_model_and_others_get_503(
    api: Api, steel: pd.DataFrame, bundles: list[tuple[Path, TrainedModel]]
) -> None:
    settings = api_settings(api_model_lookup_s=60.0)
    client, resources = await open_api(settings)
    now = [0.0]
    resources.extensions["inference"] = InferenceService(settings, clock=lambda: now[0])
    try:
        asset, unseen = await new_asset(api), await new_asset(api)
        await register(api, asset, bundles[0][0])
        hist = window(steel, 7000)
        assert forecast_of(await predict(api, asset, hist, client=client)).model_version == "1"
        await (await resources.pool()).close()  # every query now fails
        now[0] += 61.0
        assert forecast_of(await predict(api, asset, hist, client=client)).model_version == "1"
        r = await predict(api, unseen, hist, client=client)
        assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        await client.aclose()
        await resources.close()


async def test_a_bundle_that_cannot_load_falls_back_to_online(
    api: Api, steel: pd.DataFrame, tmp_path: Path
) -> None:
    asset = await new_asset(api)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text('{"format_version": 1, "model_type": "lightgbm"}')
    await register(api, asset, broken)
    got = forecast_of(await predict(api, asset, window(steel, 3000)))
    assert got.model.kind == "online" and got.model_version is None
    assert got.model.fallback_reason == "lightgbm version 1 could not be loaded"


def shifted(frame: pd.DataFrame, **changes: Any) -> list[dict[str, Any]]:
    pts = points(frame)
    for i, upd in changes.items():
        pts[int(i[1:])].update(upd)
    return pts


async def test_bad_input_is_4xx_naming_the_field(
    api: Api, steel: pd.DataFrame, bundles: list[tuple[Path, TrainedModel]]
) -> None:
    asset = await new_asset(api)
    await register(api, asset, bundles[0][0])
    online = await new_asset(api)
    hist = window(steel, 6000)
    pts = points(hist)
    ts = [p["timestamp"] for p in pts]

    def bad_point(
        i: int, field: str, value: Any, status: int, kind: str
    ) -> tuple[str, Any, int, list[Any], str]:
        """Point ``i`` of the history with ``field`` set to ``value``: ``status`` at that point's field."""
        body = {"historical_data": shifted(hist, **{f"p{i}": {field: value}})}
        return asset, body, status, ["body", "historical_data", i, field], kind

    cases: list[tuple[str, Any, int, list[Any], str]] = [
        bad_point(5, "timestamp", ts[3], 400, "unsorted_timestamps"),
        bad_point(9, "timestamp", ts[8], 400, "duplicate_timestamp"),
        bad_point(7, "value", "NaN", 422, "float_type"),
        bad_point(7, "value", "abc", 422, "float_type"),
        bad_point(2, "temp", "NaN", 422, "float_type"),
        (asset, {"historical_data": pts[:1]}, 400, ["body", "historical_data"], "too_short"),
        (
            asset,
            {"historical_data": pts, "forecast_horizon": 0},
            422,
            ["body", "forecast_horizon"],
            "greater_than_equal",
        ),
        (
            asset,
            {"historical_data": pts, "forecast_horizon": api.settings.api.max_horizon + 1},
            422,
            ["body", "forecast_horizon"],
            "less_than_equal",
        ),
        (online, {"historical_data": pts[:1]}, 400, ["body", "historical_data"], "too_short"),
    ]
    for target, body, status, loc, kind in cases:
        r = await api.client.post(f"/api/v1/assets/{target}/predict", json=body, headers=api.auth("read"))
        assert r.status_code == status, (loc, r.text)
        err = r.json()["error"]
        assert err["code"] == "VALIDATION_ERROR" and [loc, kind] in [
            [d["loc"], d["type"]] for d in err["details"]
        ], r.text

    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies",
        json={"data_stream": shifted(hist, p4={"timestamp": ts[1]})},
        headers=api.auth("read"),
    )
    assert r.status_code == 400 and r.json()["error"]["details"][0]["loc"] == [
        "body",
        "data_stream",
        4,
        "timestamp",
    ]

    many = [
        {"timestamp": f"2018-01-01T00:00:{i % 60:02d}Z", "value": 1.0}
        for i in range(api.settings.api.max_points + 1)
    ]
    r = await api.client.post(
        f"/api/v1/assets/{asset}/predict", json={"historical_data": many}, headers=api.auth("read")
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "historical_data"]

    # 120 points a minute apart land in 8 of the model's 15-minute steps: the model cannot use them
    minutes = [
        {
            "timestamp": (pd.Timestamp("2018-03-01", tz="UTC") + pd.Timedelta(minutes=i)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "value": 5.0,
        }
        for i in range(120)
    ]
    r = await api.client.post(
        f"/api/v1/assets/{asset}/predict", json={"historical_data": minutes}, headers=api.auth("read")
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "MODEL_INFERENCE_ERROR", r.text
    assert "needs 97" in r.json()["error"]["details"][0]["msg"]

    r = await api.client.post(
        "/api/v1/assets/bad%20asset!/predict", json={"historical_data": pts}, headers=api.auth("read")
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["path", "asset_id"]


async def test_an_unregistered_asset_is_answered_by_the_online_model(api: Api, steel: pd.DataFrame) -> None:
    """Ad-hoc prediction (issue 17): the design's own example, two points and an asset id nobody
    registered, gets a forecast from the online model, and nothing is registered by it."""
    asset = f"nobody-{uuid.uuid4().hex[:6]}"
    params = api.settings.detector.params()
    for n in (2, 10, HISTORY):
        hist = window(steel, 1000, n)
        got = forecast_of(await predict(api, asset, hist))
        assert got.asset_registered is False and got.model.kind == "online" and got.model_version is None
        assert got.model.input_length == 2 and got.model.fallback_reason is None
        assert (got.model.note is not None) == (n < api.settings.detector.warmup), got.model.note
        seconds = (hist["timestamp"].astype("int64") / 1e9).tolist()
        ref = oneshot.forecast(params, seconds, hist["value"].tolist(), 24)
        assert [p.timestamp.timestamp() for p in got.forecast_data] == [p.ts for p in ref]
        assert [p.predicted_value for p in got.forecast_data] == [p.value for p in ref]
        assert got.forecast_data[0].timestamp - hist["timestamp"].iloc[-1] == pd.Timedelta(minutes=15)

    data, det = await detect_a_planted_spike(api, asset, steel)
    assert det.asset_registered is False and det.model.kind == "online" and det.points_scored == 800
    assert any(a.timestamp == data["timestamp"][700].to_pydatetime() for a in det.anomalies)
    # too few points to flag anything: the error says how many are needed
    short = points(window(steel, 0, 10))
    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies", json={"data_stream": short}, headers=api.auth("read")
    )
    assert r.status_code == 400, r.text
    (detail,) = r.json()["error"]["details"]
    assert detail["type"] == "too_short" and detail["loc"] == ["body", "data_stream"]
    assert detail["ctx"] == {"needed": api.settings.detector.warmup, "got": 10}
    r = await api.client.post(
        f"/api/v1/assets/{asset}/predict", json={"historical_data": short[:1]}, headers=api.auth("read")
    )
    assert r.status_code == 400 and r.json()["error"]["details"][0]["ctx"] == {"needed": 2, "got": 1}
    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies",
        json={"data_stream": points(data), "detector": "autoencoder"},
        headers=api.auth("read"),
    )
    assert r.status_code == 422 and "no asset with this id is registered" in r.text
    pool = await api.resources.pool()
    assert await pool.fetchval("SELECT count(*) FROM assets WHERE asset_id = $1", asset) == 0


@st.composite
def _short_histories(draw: st.DrawFn) -> dict[str, Any]:
    """A few points anywhere in 1900-2200 with any allowed values, and any allowed horizon."""
    stamps = draw(
        st.lists(st.integers(-2208988800, 7258118400), min_size=1, max_size=40, unique=True).map(sorted)
    )
    values = draw(
        st.lists(st.floats(-MAX_ABS, MAX_ABS, allow_nan=False), min_size=len(stamps), max_size=len(stamps))
    )
    return {
        "historical_data": [{"timestamp": t, "value": v} for t, v in zip(stamps, values, strict=True)],
        "forecast_horizon": draw(st.integers(1, 96)),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_short_histories())
async def test_any_short_history_of_an_unregistered_asset_is_a_forecast_or_a_4xx(
    api: Api, body: dict[str, Any]
) -> None:
    r = await api.client.post("/api/v1/assets/nobody-fuzz/predict", json=body, headers=api.auth("read"))
    assert r.status_code in (200, 400, 422), (r.status_code, r.text)
    if r.status_code == 200:
        got = Envelope[PredictionPublic].model_validate(r.json()).data
        assert got.model.kind == "online" and len(got.forecast_data) == body["forecast_horizon"]
    else:
        details = r.json()["error"]["details"]
        assert details and all(d["loc"][0] == "body" for d in details), r.text


async def test_a_forecast_past_2200_is_a_422_not_an_overflow(api: Api) -> None:
    body = {
        "historical_data": [
            {"timestamp": "1900-01-01T00:00:00Z", "value": 1.0},
            {"timestamp": "2199-12-31T00:00:00Z", "value": 2.0},
        ],
        "forecast_horizon": 2,
    }
    r = await api.client.post("/api/v1/assets/nobody-late/predict", json=body, headers=api.auth("read"))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "MODEL_INFERENCE_ERROR" and err["details"][0]["loc"] == ["body", "forecast_horizon"]


async def test_a_history_shorter_than_the_trained_model_reads_gets_the_online_model(
    api: Api, steel: pd.DataFrame, bundles: list[tuple[Path, TrainedModel]]
) -> None:
    asset = await new_asset(api)
    version = await register(api, asset, bundles[0][0])
    needs = bundles[0][1].input_length
    before = (
        REGISTRY.get_sample_value("kilowatch_api_inference_fallbacks_total", {"reason": "short_history"})
        or 0.0
    )
    got = forecast_of(await predict(api, asset, window(steel, 5000, 50)))
    assert got.model.kind == "online" and got.asset_registered is True and got.model_version is None
    assert got.model.fallback_reason == (
        f"lightgbm version {version} needs at least {needs} points, got 50: "
        "the online model answered from them"
    )
    data = window(steel, 5000, 60)
    r = await api.client.post(
        f"/api/v1/assets/{asset}/detect_anomalies",
        json={"data_stream": points(data)},
        headers=api.auth("read"),
    )
    det = Envelope[DetectionPublic].model_validate(r.json()).data
    assert (
        det.model.kind == "online" and det.points_scored == 60 and "got 60" in str(det.model.fallback_reason)
    )
    after = REGISTRY.get_sample_value("kilowatch_api_inference_fallbacks_total", {"reason": "short_history"})
    assert after == before + 2
    # long enough: the trained model answers as before
    got = forecast_of(await predict(api, asset, window(steel, 5000)))
    assert got.model.kind == "trained" and got.model.fallback_reason is None


async def test_predict_and_detect_need_a_read_key(api: Api, steel: pd.DataFrame) -> None:
    asset = await new_asset(api)
    hist = window(steel, 3000)
    for route, body in (
        ("predict", {"historical_data": points(hist)}),
        ("detect_anomalies", {"data_stream": points(hist)}),
    ):
        url = f"/api/v1/assets/{asset}/{route}"
        assert (await api.client.post(url, json=body)).status_code == 401
        r = await api.client.post(url, json=body, headers=api.auth("write"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
        for scope in ("read", "admin"):
            assert (await api.client.post(url, json=body, headers=api.auth(scope))).status_code == 200


async def test_concurrent_requests_with_a_new_key_verify_it_once(
    api: Api, steel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each argon2 check costs tens of ms: 20 requests in flight when a key's cache entry is missing
    (or expired) must share one, not run 20."""
    from api.services import keys, keystore

    _rec, key = await keystore.create(await api.resources.pool(), f"burst-{uuid.uuid4().hex[:6]}", ["read"])
    calls: list[str] = []
    real = keys.verify

    def counting(key_hash: str, secret: str) -> bool:
        calls.append(key_hash)
        return real(key_hash, secret)

    monkeypatch.setattr(keys, "verify", counting)
    asset = await new_asset(api)
    hist = window(steel, 3000)
    replies = await asyncio.gather(
        *(predict(api, asset, hist, headers={"Authorization": f"Bearer {key}"}) for _ in range(20))
    )
    assert {r.status_code for r in replies} == {200}
    assert len(calls) == 1
