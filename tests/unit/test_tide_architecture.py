"""TiDE's architecture params (the paper's ETTh2 run: 2 encoder / 2 decoder layers, decoder output 32,
temporal decoder 16, layer norm) reach darts' model; the defaults stay what they were."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainers import models

SHAPE = models.Shape(horizon=96, day=24, past_covariates=False)
PAPER = {
    "hidden_size": 512,
    "num_encoder_layers": 2,
    "num_decoder_layers": 2,
    "decoder_output_dim": 32,
    "temporal_decoder_hidden": 16,
    "layer_norm": 1,
    "dropout": 0.2,
}


def _built(params: dict[str, float]) -> dict[str, object]:
    pytest.importorskip("darts")
    models.check_params("tide", params)
    model = models.build("tide", dict(params), SHAPE, 720, 0, 8640)
    return dict(model.model_params)


def test_the_papers_settings_reach_the_darts_model() -> None:
    got = _built(PAPER)
    assert got["num_encoder_layers"] == 2 and got["num_decoder_layers"] == 2
    assert got["decoder_output_dim"] == 32 and got["temporal_decoder_hidden"] == 16
    assert got["use_layer_norm"] is True and got["hidden_size"] == 512


def test_defaults_are_unchanged() -> None:
    got = _built({})
    assert (got["num_encoder_layers"], got["num_decoder_layers"]) == (1, 1)
    assert (got["decoder_output_dim"], got["temporal_decoder_hidden"], got["use_layer_norm"]) == (
        8,
        16,
        False,
    )


@given(
    st.sampled_from(["num_encoder_layers", "num_decoder_layers", "decoder_output_dim", "layer_norm"]),
    st.one_of(st.integers(-(10**9), 10**9), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_any_value_is_accepted_in_range_or_refused_naming_the_param(key: str, value: float) -> None:
    bound = models.PARAM_BOUNDS[key]
    whole = math.isfinite(value) and value == int(value)  # 2.0 is the integer 2
    ok = whole and bound.lo <= value <= bound.upper() and (value > 0 or key == "layer_norm")
    if ok:
        models.check_params("tide", {key: value})
    else:
        with pytest.raises(models.ParamError) as err:
            models.check_params("tide", {key: value})
        assert err.value.param == key
