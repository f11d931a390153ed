"""POST predict with a bundle trained with a supplied future covariate (issue 16): the values in
``future_covariates`` reach the model (the answer is the bundle's own forecast given them, and changes
with them); a missing covariate is a 400 and a wrong number of values a 422, both at
``future_covariates.<name>`` with ``ctx`` saying how many values are needed; non-finite and huge values are
refused like readings. Real PostgreSQL, Redis and Kafka; a real LightGBM bundle trained on the steel
plant's consumption with its lagging reactive power declared as the future covariate ``kvarh``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from tests.steel_kvarh import kvarh_points, steel_with_kvarh
from trainers.backend import TrainedModel, TrainSpec, train

from .conftest import Api
from .test_inference import forecast_of, new_asset, register

pytestmark = pytest.mark.ml
H = 8


@pytest.fixture(scope="module")
def steel() -> pd.DataFrame:
    return steel_with_kvarh(DATA_DIR, 3000)


@pytest.fixture(scope="module")
def bundle(steel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainedModel]:
    params = {"n_estimators": 40, "threads": 1, "future_covariates": ["kvarh"]}
    model = train(steel.iloc[:2000].reset_index(drop=True), TrainSpec("lightgbm", params, horizon=H))
    path = tmp_path_factory.mktemp("lightgbm-future-kvarh")
    model.save(path)
    return path, model


def body(frame: pd.DataFrame, future: Any = None, horizon: int = H) -> dict[str, Any]:
    out: dict[str, Any] = {"historical_data": kvarh_points(frame), "forecast_horizon": horizon}
    if future is not None:
        out["future_covariates"] = future
    return out


async def _asset(api: Api, path: Path) -> str:
    asset = await new_asset(api)
    await register(api, asset, path, kind="lightgbm")
    return asset


async def test_predict_forecasts_with_the_supplied_values(
    api: Api, steel: pd.DataFrame, bundle: tuple[Path, TrainedModel]
) -> None:
    path, model = bundle
    asset = await _asset(api, path)
    hist = steel.iloc[2200 : 2200 + model.input_length + 8].reset_index(drop=True)
    url = f"/api/v1/assets/{asset}/predict"
    low, high = [5.0] * H, [60.0] * H
    got_low = forecast_of(
        await api.client.post(url, json=body(hist, {"kvarh": low}), headers=api.auth("read"))
    )
    assert got_low.model.kind == "trained" and got_low.model.engine == "darts"
    mine = [p.predicted_value for p in got_low.forecast_data]
    np.testing.assert_allclose(mine, model.predict(hist, H, {"kvarh": low})["predicted_value"], rtol=1e-9)
    got_high = forecast_of(
        await api.client.post(url, json=body(hist, {"kvarh": high}), headers=api.auth("read"))
    )
    assert np.mean([p.predicted_value for p in got_high.forecast_data]) > np.mean(mine) + 10.0

    # fewer steps than trained: as many values as steps asked for
    short = forecast_of(
        await api.client.post(url, json=body(hist, {"kvarh": low[:3]}, horizon=3), headers=api.auth("read"))
    )
    assert len(short.forecast_data) == 3


async def test_missing_or_wrong_future_values_are_4xx_naming_the_field(
    api: Api, steel: pd.DataFrame, bundle: tuple[Path, TrainedModel]
) -> None:
    path, model = bundle
    asset = await _asset(api, path)
    hist = steel.iloc[2200 : 2200 + model.input_length + 8].reset_index(drop=True)
    url = f"/api/v1/assets/{asset}/predict"

    async def error(payload: dict[str, Any], status: int) -> dict[str, Any]:
        r = await api.client.post(url, json=payload, headers=api.auth("read"))
        assert r.status_code == status, r.text
        detail: dict[str, Any] = r.json()["error"]["details"][0]
        return detail

    missing = await error(body(hist), 400)
    assert missing["loc"] == ["body", "future_covariates", "kvarh"]
    assert missing["ctx"] == {"needed": H, "got": 0} and "8 values" in missing["msg"]
    other = await error(body(hist, {"temperature": [1.0] * H}), 400)
    assert other["loc"] == ["body", "future_covariates", "kvarh"]

    short = await error(body(hist, {"kvarh": [1.0, 2.0, 3.0]}), 422)
    assert short["loc"] == ["body", "future_covariates", "kvarh"]
    assert short["ctx"] == {"needed": H, "got": 3}

    huge = await error(body(hist, {"kvarh": [1.0] * (H - 1) + [1e16]}), 422)
    assert huge["loc"][:3] == ["body", "future_covariates", "kvarh"]
    # JSON's 1e400 parses as infinity: refused like a reading's (the marker value is replaced in the text)
    raw = orjson.dumps(body(hist, {"kvarh": [123456.0] * H})).replace(b"123456.0", b"1e400")
    r = await api.client.post(
        url, content=raw, headers={**api.auth("read"), "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"][:3] == ["body", "future_covariates", "kvarh"]
    named = await error(body(hist, {"kvarh": ["12.5"] * H}), 422)
    assert named["loc"][:3] == ["body", "future_covariates", "kvarh"]

    # the covariate's past values ride on the history points: a point without it is a 400 naming it
    partial = body(hist, {"kvarh": [1.0] * H})
    del partial["historical_data"][4]["kvarh"]
    gap = await error(partial, 400)
    assert gap["loc"][-2:] == [4, "kvarh"]
