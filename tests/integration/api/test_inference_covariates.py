"""POST predict with a bundle trained with a covariate (issue 16): the covariate sent on each history
point reaches the model (the answer is the bundle's own forecast given it, not the forecast without
it), and a history without it is a 400 naming the point and the covariate. Real PostgreSQL, Redis and
Kafka; a real DLinear bundle trained on the steel plant's consumption with its reactive power as the
covariate ``kvarh``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from tests.steel_kvarh import kvarh_points, steel_with_kvarh
from trainers.backend import TrainedModel, TrainSpec, train

from .conftest import Api
from .test_inference import forecast_of, new_asset, register

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def steel() -> pd.DataFrame:
    return steel_with_kvarh(DATA_DIR, 6000)


@pytest.fixture(scope="module")
def bundle(steel: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainedModel]:
    spec = TrainSpec("dlinear", {"n_epochs": 2, "max_samples": 1000, "threads": 1}, horizon=24)
    model = train(steel.iloc[:4000].reset_index(drop=True), spec)
    assert model.metadata["features"]["past_covariates"] == ["kvarh"]
    path = tmp_path_factory.mktemp("dlinear-kvarh")
    model.save(path)
    return path, model


def body(frame: pd.DataFrame, with_kvarh: bool = True) -> dict[str, Any]:
    return {"historical_data": kvarh_points(frame, with_kvarh), "forecast_horizon": 24}


async def test_predict_reads_the_covariate_of_each_point(
    api: Api, steel: pd.DataFrame, bundle: tuple[Path, TrainedModel]
) -> None:
    path, model = bundle
    asset = await new_asset(api)
    await register(api, asset, path, kind="dlinear")
    hist = steel.iloc[4500 : 4500 + model.input_length + 8].reset_index(drop=True)
    url = f"/api/v1/assets/{asset}/predict"
    got = forecast_of(await api.client.post(url, json=body(hist), headers=api.auth("read")))
    assert got.model.kind == "trained" and got.model.model_type == "dlinear"
    mine = [p.predicted_value for p in got.forecast_data]
    np.testing.assert_allclose(mine, model.predict(hist, 24)["predicted_value"], rtol=1e-6, atol=1e-6)
    blind = model.predict(hist.assign(kvarh=0.0), 24)["predicted_value"].to_numpy()
    assert not np.allclose(mine, blind, rtol=1e-4, atol=1e-3)  # the covariate changed the forecast

    r = await api.client.post(url, json=body(hist, with_kvarh=False), headers=api.auth("read"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["loc"][-1] == "kvarh"
    partial = body(hist)
    del partial["historical_data"][5]["kvarh"]
    r = await api.client.post(url, json=partial, headers=api.auth("read"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["loc"][-2:] == [5, "kvarh"]
