"""docker-compose.kafka.yml and deploy/Dockerfile keep their invariants (issue 15). No Docker engine here:
`make compose-check` validates the syntax with `docker-compose config`; this test checks what config cannot:

- every container that loads models (workers, the API) uses one artifact store, never its own folder;
- every volume or tmpfs a kilowatch container writes is created and owned by the image's non-root user;
- no secret is written in the file (only ${VAR} from the operator's environment, no default);
- every KILOWATCH_* variable is one kilowatch reads (a typo would be ignored, with a warning, at start);
- the API's processes share a Prometheus multi-process folder; a history sink feeds scheduled retraining;
- the image installs from the lock, copies every package, and runs as a non-root user.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_app.settings import known_env_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.kafka.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$|API_KEY")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# What the operator's environment gives in these checks (the required secrets; everything else defaults).
OPERATOR_ENV = {"KILOWATCH_POSTGRES_PASSWORD": "from-the-environment", "GRAFANA_ADMIN_PASSWORD": "x"}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} substitution."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        have = env.get(name)
        if op in (":-", "-"):
            return have if have or (op == "-" and have is not None) else arg
        if op in (":?", "?"):
            if not have:
                raise AssertionError(f"${{{name}}} is required: {arg}")
            return have
        return have or ""

    return INTERPOLATION.sub(one, value)


def raw_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # anchors and << merges resolved
    return loaded


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return dict(interpolate(raw_compose(), OPERATOR_ENV if env is None else env))


def kilowatch_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in doc["services"].items() if str(s.get("image", "")).startswith("kilowatch:")}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def named_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> named volume of the service's volume mounts (bind mounts are left out)."""
    out = {}
    for v in service.get("volumes") or []:
        source, target = (v["source"], v["target"]) if isinstance(v, dict) else v.split(":")[:2]
        if not source.startswith((".", "/", "$")):
            out[target] = source
    return out


def tmpfs_mounts(service: dict[str, Any]) -> dict[str, str]:
    t = service.get("tmpfs") or []
    return dict([*item.split(":", 1), ""][:2] for item in ([t] if isinstance(t, str) else t))


def dockerfile() -> str:
    return DOCKERFILE.read_text()


def image_uid() -> int:
    m = re.search(r"useradd [^\n]*--uid (\d+) kilowatch", dockerfile())
    assert m, "the image creates a kilowatch user with a fixed uid"
    return int(m.group(1))


def owned_dirs() -> set[str]:
    """Folders the image creates owned by the kilowatch user (install -d -o kilowatch ...)."""
    out: set[str] = set()
    for m in re.finditer(r"install -d -o kilowatch -g kilowatch(?: -m \d+)? ([^\n\\&]+)", dockerfile()):
        out.update(m.group(1).split())
    return out


def model_loaders(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in kilowatch_services(doc).items() if s["command"][0] in ("worker", "api")}


def test_every_model_loader_uses_one_shared_artifact_store() -> None:
    doc = compose()
    loaders = model_loaders(doc)
    assert {"worker-1", "worker-2", "api"} <= set(loaders)
    stores = {}
    for name, service in loaders.items():
        env = environment(service)
        store = env.get("KILOWATCH_ARTIFACT_STORE", "postgres")  # the settings default
        if store == "file":
            root = env.get("KILOWATCH_ARTIFACT_ROOT", ".state/artifacts")
            mounts = named_mounts(service)
            volume = next((v for t, v in mounts.items() if root == t or root.startswith(t + "/")), None)
            assert volume is not None, f"{name}: file artifact store {root} is not on a named volume"
            stores[name] = ("file", volume, root)
        else:
            stores[name] = (store, "", "")
    assert len(set(stores.values())) == 1, f"containers load models from different stores: {stores}"
    assert next(iter(stores.values()))[0] == "postgres"


def test_a_file_store_on_per_container_folders_would_be_refused() -> None:
    # The check above is not vacuous: workers on their own state volumes with a file store fail it.
    doc = compose()
    for service in model_loaders(doc).values():
        service["environment"] = {
            **environment(service),
            "KILOWATCH_ARTIFACT_STORE": "file",
            "KILOWATCH_ARTIFACT_ROOT": "/home/kilowatch/state/artifacts",
        }
    stores = {
        (environment(s)["KILOWATCH_ARTIFACT_ROOT"], tuple(sorted(named_mounts(s).values())))
        for s in model_loaders(doc).values()
    }
    assert len(stores) > 1


def test_every_volume_a_kilowatch_container_writes_is_owned_by_its_user() -> None:
    owned, uid = owned_dirs(), image_uid()
    assert "/home/kilowatch/state" in owned
    for name, service in kilowatch_services(compose()).items():
        for target, volume in named_mounts(service).items():
            assert target in owned, f"{name}: volume {volume} at {target} is not created/owned in the image"
        for target, options in tmpfs_mounts(service).items():
            assert f"uid={uid}" in options, f"{name}: tmpfs {target} not owned by uid {uid}"
    state = re.search(r"KILOWATCH_STATE_DIR=(\S+)", dockerfile())
    assert state and state.group(1) in owned
    # VOLUME after the folder exists with its owner: a new named volume copies the folder's ownership
    for stage in dockerfile().split("\nFROM ")[1:]:
        if "VOLUME" in stage:
            assert stage.index("USER kilowatch") < stage.index("VOLUME"), stage[:40]


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name, service in raw_compose()["services"].items():
        for key, value in environment(service).items():
            if not SECRET_NAME.search(key):
                continue
            m = INTERPOLATION.fullmatch(value)
            assert m, f"{name}: {key} is a literal; take it from the environment (${{{key}}})"
            op, default = m.group(2), m.group(3) or ""
            assert op in (None, ":?", "?") or not default, f"{name}: {key} has a default secret {default!r}"
    # and a secret given by the operator is passed through, not replaced
    assert all(
        environment(s).get("KILOWATCH_POSTGRES_PASSWORD") == "from-the-environment"
        for s in kilowatch_services(compose()).values()
    )


def test_required_secrets_have_no_fallback() -> None:
    with pytest.raises(AssertionError, match="KILOWATCH_POSTGRES_PASSWORD"):
        compose({"GRAFANA_ADMIN_PASSWORD": "x"})


def test_every_kilowatch_variable_is_a_setting() -> None:
    known = known_env_names()
    for name, service in kilowatch_services(compose()).items():
        unknown = sorted(k for k in environment(service) if k.startswith("KILOWATCH_") and k not in known)
        assert not unknown, f"{name}: no kilowatch setting reads {unknown}"


def test_api_processes_share_a_metrics_folder_and_a_history_sink_runs() -> None:
    doc = compose()
    api = doc["services"]["api"]
    env = environment(api)
    if int(env.get("KILOWATCH_API_WORKERS", "1")) > 1:
        folder = env.get("PROMETHEUS_MULTIPROC_DIR")
        assert folder, "several API processes need PROMETHEUS_MULTIPROC_DIR (one scrape sums them all)"
        assert folder in tmpfs_mounts(api) or folder in named_mounts(api)
    history = [
        n
        for n, s in kilowatch_services(doc).items()
        if s["command"][0] == "history-sink"
        or (s["command"][0] == "worker" and environment(s).get("KILOWATCH_HISTORY_ENABLED") == "true")
    ]
    assert history, "no history sink: scheduled retraining would find no readings_history rows"
    workers = [n for n, s in kilowatch_services(doc).items() if s["command"][0] == "worker"]
    assert set(workers) <= set(history) or any(
        s["command"][0] == "history-sink" for s in kilowatch_services(doc).values()
    )


def test_one_image_for_every_kilowatch_service() -> None:
    doc = compose()
    images = {s["image"] for s in kilowatch_services(doc).values()}
    assert len(images) == 1, images
    built = [s for s in kilowatch_services(doc).values() if "build" in s]
    assert len(built) == 1 and built[0]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert built[0]["build"]["target"] in stages()


def stages() -> set[str]:
    return set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile(), flags=re.M))


def test_the_image_installs_from_the_lock_copies_every_package_and_runs_unprivileged() -> None:
    text = dockerfile()
    assert {"slim", "full"} <= stages()
    assert text.rstrip().split("\nFROM ")[-1].startswith("runtime AS slim"), "slim is the default target"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for pkg in packages:
        top = pkg.rstrip("*")
        assert re.search(rf"^COPY {top} \./{top}$", text, flags=re.M), f"the image does not copy {top}/"
    for needed in ("pyproject.toml", "README.md", "LICENSE", "requirements"):
        assert re.search(rf"^COPY [^\n]*\b{re.escape(needed)}\b", text, flags=re.M), needed
    wheel_cmds = re.findall(r"pip wheel [^\n]*", text)
    assert len(wheel_cmds) == 2 and all("-c requirements/constraints.txt" in c for c in wheel_cmds)
    assert "'.[api,ml,s3]'" in wheel_cmds[0] and "deep" not in wheel_cmds[0]
    assert "'.[api,ml,deep,s3]'" in wheel_cmds[1]
    for stage in ("full", "slim"):
        body = text.split(f"AS {stage}\n", 1)[1].split("\nFROM ", 1)[0]
        assert "USER kilowatch" in body and "--no-index" in body, stage
