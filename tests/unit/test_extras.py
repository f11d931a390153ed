"""The extras split (issue 15): an install without torch (``deep``) or river (``eval``) trains and serves
LightGBM, and asking it for a deep model says which extra to install instead of a ModuleNotFoundError.

"Not installed" is simulated in a child interpreter whose path finder does not see the module (find_spec
answers None and an import raises ModuleNotFoundError, as in an install without it). A real torch-less
install was checked by hand (docs/deployment.md: scripts/measure-install's venv).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stream_app.core import extras
from tests.conftest import DATA_DIR
from trainers import bundle
from trainers.backend import TrainSpec, load_frame, load_model, train
from trainers.errors import BundleError

ROOT = Path(__file__).resolve().parents[2]


def test_missing_extra_names_the_extra_and_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    assert extras.missing_extra("lightgbm") is None  # installed in the test venv
    monkeypatch.setattr(extras, "installed", lambda module: module != "torch")
    msg = extras.missing_extra("torch")
    assert msg is not None
    assert "install the 'deep' extra" in msg and "pip install 'kilowatch[deep]'" in msg


def _without(modules: list[str], body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a child interpreter where ``modules`` cannot be imported."""
    block = f"""
    import sys
    from importlib.machinery import PathFinder

    class _Without:
        # the path finder, blind to the blocked top-level packages (find_spec answers None, as without them)
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {modules!r}:
                return None
            return PathFinder.find_spec(name, path, target)

        def find_distributions(self, *args, **kwargs):
            blocked = {{m.replace("_", "-") for m in {modules!r}}}
            found = PathFinder.find_distributions(*args, **kwargs)
            return (d for d in found if d.metadata["Name"].lower().replace("_", "-") not in blocked)

        def invalidate_caches(self):
            PathFinder.invalidate_caches()

    sys.meta_path[:] = [_Without() if f is PathFinder else f for f in sys.meta_path]
    """
    code = textwrap.dedent(block) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.ml
def test_without_torch_lightgbm_trains_and_loads_and_deep_models_say_install_deep(tmp_path: Path) -> None:
    body = f"""
    import json
    from pathlib import Path
    from tests.conftest import DATA_DIR
    from trainers.backend import TrainSpec, load_frame, load_model, train
    from trainers.detectors import AutoencoderDetector
    from trainers.errors import BundleError, TrainingError

    frame = load_frame(DATA_DIR / "energy" / "pjm_east_hourly.csv", target="PJME_MW").iloc[-2500:]
    frame = frame.reset_index(drop=True)
    model = train(frame, TrainSpec("lightgbm", {{"n_estimators": 20, "threads": 1}}))
    out = Path({str(tmp_path)!r}) / "lgb"
    model.save(out)
    loaded = load_model(out)
    assert len(loaded.predict(frame, 5)) == 5
    errors = {{}}
    for name, call in [
        ("tide", lambda: train(frame, TrainSpec("tide", {{"n_epochs": 1}}))),
        ("autoencoder", lambda: AutoencoderDetector(24)),
        ("lightgbm+autoencoder", lambda: train(frame, TrainSpec("lightgbm", {{"detector": "autoencoder"}}))),
    ]:
        try:
            call()
        except TrainingError as exc:
            errors[name] = str(exc)
    assert loaded.metadata["library_versions"]["torch"] == "missing"
    print(json.dumps(errors))
    """
    done = _without(["torch", "pytorch_lightning", "lightning"], body)
    assert done.returncode == 0, done.stderr[-3000:]
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(errors) == {"tide", "autoencoder", "lightgbm+autoencoder"}
    for msg in errors.values():
        assert "install the 'deep' extra (pip install 'kilowatch[deep]')" in msg


@pytest.fixture(scope="module")
def seasonal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = load_frame(DATA_DIR / "energy" / "pjm_east_hourly.csv", target="PJME_MW").iloc[-2500:]
    out = tmp_path_factory.mktemp("bundle") / "naive"
    train(frame.reset_index(drop=True), TrainSpec("seasonal_naive", {})).save(out)
    return out


def _retag(src: Path, dest: Path, **edit: object) -> Path:
    """A copy of a bundle with metadata fields changed (metadata.json itself is not hashed)."""
    dest.mkdir()
    for p in src.rglob("*"):
        if p.is_file():
            (dest / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dest / p.relative_to(src)).write_bytes(p.read_bytes())
    raw = json.loads((dest / "metadata.json").read_text())
    raw.update(edit)
    (dest / "metadata.json").write_text(json.dumps(raw))
    return dest


def test_a_bundle_is_checked_only_against_the_libraries_it_uses(seasonal: Path, tmp_path: Path) -> None:
    # Trained where torch was installed (a full image), loaded where it is not (the slim API): fine for a
    # model that does not use torch; a torch model's bundle is still refused on a torch version mismatch.
    versions = dict(bundle.library_versions(), torch="0.0.1")
    ok = _retag(seasonal, tmp_path / "naive", library_versions=versions)
    load_model(ok)
    meta = json.loads((ok / "metadata.json").read_text())
    assert "torch" not in bundle.libraries_used(meta)
    assert "torch" in bundle.libraries_used(dict(meta, model_type="tide"))
    assert "torch" in bundle.libraries_used(dict(meta, files={**meta["files"], "autoencoder.pt": "x"}))
    tide = _retag(seasonal, tmp_path / "tide", library_versions=versions, model_type="tide")
    with pytest.raises(BundleError, match=r"trained with torch 0\.0\.1"):
        load_model(tide)


def test_loading_a_deep_bundle_without_torch_says_install_deep(
    seasonal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tide = _retag(seasonal, tmp_path / "tide", model_type="tide")
    monkeypatch.setattr(extras, "installed", lambda module: module != "torch")
    with pytest.raises(BundleError, match=r"install the 'deep' extra"):
        load_model(tide)


def test_river_baselines_without_river_say_install_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_app.evaluation import river_baselines

    monkeypatch.setattr(extras, "installed", lambda module: module != "river")
    with pytest.raises(river_baselines.BaselineUnavailable, match=r"install the 'eval' extra"):
        river_baselines.run_baseline(next(iter(river_baselines.BASELINES)), [0.0], [1.0])
    with pytest.raises(river_baselines.BaselineUnavailable, match=r"install the 'eval' extra"):
        river_baselines.preload()
