"""Settings in groups keep the flat environment names (KILOWATCH_<NAME>) of the flat object they replace."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from stream_app.logging_setup import settings_secrets
from stream_app.settings import FLAT, GROUPS, Settings, settings_reference


def test_flat_environment_names_reach_their_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("KILOWATCH_POSTGRES_PASSWORD", "not-the-dev-one")
    monkeypatch.setenv("KILOWATCH_BATCH_SIZE", "77")
    monkeypatch.setenv("KILOWATCH_ANOMALY_THRESHOLD", "0.99")
    monkeypatch.setenv("KILOWATCH_ALERT_FROM", "ops@example.org")
    monkeypatch.setenv("KILOWATCH_API_CORS_ORIGINS", '["https://console.example.org"]')
    monkeypatch.setenv("kilowatch_redis_port", "6400")  # case-insensitive, as before
    s = Settings()
    assert s.postgres.host == "db.internal" and s.worker.batch_size == 77
    assert s.detector.threshold == 0.99 and s.detector.params().threshold == 0.99
    assert s.alerting.sender == "ops@example.org" and s.redis.port == 6400
    assert s.api.cors_origins == ("https://console.example.org",)


def test_keyword_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_EMIT_SCORES", "false")
    monkeypatch.setenv("KILOWATCH_APP_ID", "from-env")
    s = Settings(emit_scores=True, worker={"batch_size": 5})
    assert s.worker.emit_scores is True and s.worker.batch_size == 5 and s.worker.app_id == "from-env"


def test_values_are_validated_and_copies_too() -> None:
    with pytest.raises(ValidationError, match=r"worker\.batch_size"):
        Settings(batch_size=0)
    with pytest.raises(ValidationError, match=r"kafka\.topic_prefix"):
        Settings(topic_prefix="no spaces please")
    base = Settings(redis_password=SecretStr("r-secret"))
    changed = base.with_changes(redis_port=1, detector={"warmup": 10})
    assert changed.redis.port == 1 and changed.detector.warmup == 10
    assert changed.redis.password is not None and changed.redis.password.get_secret_value() == "r-secret"
    with pytest.raises(ValidationError):
        base.with_changes(warmup=1)  # below its minimum
    assert base.redis.port != 1  # frozen: the original is untouched


def test_every_flat_name_is_unique_and_documented() -> None:
    fields = sum(len(g.model_fields) for g in GROUPS.values())
    assert len(FLAT) == fields  # no two fields share a variable
    doc = settings_reference()
    for flat in FLAT:
        assert f"`KILOWATCH_{flat.upper()}`" in doc


def test_secrets_of_every_group_are_masked() -> None:
    s = Settings(postgres_password=SecretStr("pg-x"), alert_smtp_password=SecretStr("smtp-y"))
    assert {"pg-x", "smtp-y"} <= set(settings_secrets(s))


@pytest.mark.parametrize("host", ["db.internal", "10.0.0.5", "postgres", "0.0.0.0", "192.168.1.2"])
def test_the_public_dev_password_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(ValidationError, match="KILOWATCH_POSTGRES_PASSWORD"):
        Settings(postgres_host=host)
    assert Settings(postgres_host=host, postgres_password=SecretStr("s3cret")).postgres.host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_the_dev_password_still_works_on_loopback(host: str) -> None:
    assert Settings(postgres_host=host).postgres.host == host
