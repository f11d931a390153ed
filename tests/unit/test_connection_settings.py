"""Secure connections from settings: Kafka security for each client, the PostgreSQL DSN and sslmode,
Redis TLS URLs, unknown KILOWATCH_* variables, and the development password outside development."""

from __future__ import annotations

import logging
import os
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from stream_app import settings as settings_mod
from stream_app.kafka.faust_compat.credentials import faust_credentials
from stream_app.kafka.security import aiokafka_security, client_security, ssl_context
from stream_app.lifecycle.coord import redis_client, redis_kwargs
from stream_app.logging_setup import settings_secrets
from stream_app.settings import (
    DEV_POSTGRES_PASSWORD,
    KafkaSettings,
    Settings,
    postgres_dsn_parts,
    unknown_env_names,
)
from stream_app.store.pool import connect_kwargs

SASL = {"sasl_username": "svc", "sasl_password": SecretStr("s3cret-pw")}


# --- Kafka -------------------------------------------------------------------------------------


def test_plaintext_adds_nothing_to_any_client() -> None:
    k = KafkaSettings()
    assert client_security(k, "confluent") == {}
    assert client_security(k, "aiokafka") == {}
    assert aiokafka_security(k) == {}
    assert faust_credentials(k) is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_maps_to_librdkafka_and_aiokafka_names(mechanism: str, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    k = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        ssl_cafile=ca,
        **SASL,  # type: ignore[arg-type]
    )
    assert client_security(k, "confluent") == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": "svc",
        "sasl.password": "s3cret-pw",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(ca),
    }
    assert client_security(k, "aiokafka") == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "svc",
        "sasl_plain_password": "s3cret-pw",
    }


def test_ssl_with_client_certificate_and_no_hostname_check() -> None:
    k = KafkaSettings(
        security_protocol="SSL",
        ssl_certfile=Path("/c.pem"),
        ssl_keyfile=Path("/k.pem"),
        ssl_key_password=SecretStr("kp"),
        ssl_check_hostname=False,
    )
    conf = client_security(k, "confluent")
    assert conf == {
        "security.protocol": "SSL",
        "ssl.endpoint.identification.algorithm": "none",
        "ssl.certificate.location": "/c.pem",
        "ssl.key.location": "/k.pem",
        "ssl.key.password": "kp",
    }
    assert not any(key.startswith("sasl") for key in conf)
    assert client_security(k, "aiokafka") == {"security_protocol": "SSL"}


def test_sasl_plaintext_has_no_tls() -> None:
    k = KafkaSettings(security_protocol="SASL_PLAINTEXT", **SASL)  # type: ignore[arg-type]
    conf = client_security(k, "confluent")
    assert conf["security.protocol"] == "SASL_PLAINTEXT"
    assert not any(key.startswith("ssl") for key in conf)
    assert "ssl_context" not in aiokafka_security(k)
    creds = faust_credentials(k)
    assert creds is not None and creds.protocol.value == "SASL_PLAINTEXT"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "KILOWATCH_KAFKA_SASL_USERNAME"),
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "KILOWATCH_KAFKA_SASL_PASSWORD"),
        ({"sasl_username": "u", "sasl_password": SecretStr("p")}, "SECURITY_PROTOCOL=SASL_SSL"),
        ({"ssl_cafile": Path("/ca.pem")}, "SECURITY_PROTOCOL=SSL"),
        ({"security_protocol": "SSL", "ssl_certfile": Path("/c.pem")}, "go together"),
    ],
)
def test_half_configured_kafka_security_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings(**fields)


def _openssl_ca(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA and a client certificate/key it signed (openssl, as the integration tests use)."""
    from stream_app.devtools.infra import tls

    ca = tls.make_ca(tmp_path)
    client = tls.make_cert(tmp_path, ca, "client", ["client.example"])
    return ca.cert, client.cert, client.key


def test_ssl_context_loads_the_ca_and_client_certificate(tmp_path: Path) -> None:
    ca, cert, key = _openssl_ca(tmp_path)
    k = KafkaSettings(security_protocol="SSL", ssl_cafile=ca, ssl_certfile=cert, ssl_keyfile=key)
    ctx = ssl_context(k)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "kilowatch test CA"),),)]
    assert aiokafka_security(k)["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    creds = faust_credentials(k)
    assert creds is not None and creds.protocol.value == "SSL"  # type: ignore[attr-defined]
    k2 = k.model_copy(update={"ssl_check_hostname": False})
    assert not ssl_context(k2).check_hostname


def test_faust_gets_scram_over_tls(tmp_path: Path) -> None:
    ca, _, _ = _openssl_ca(tmp_path)
    k = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        ssl_cafile=ca,
        **SASL,  # type: ignore[arg-type]
    )
    creds: Any = faust_credentials(k)
    assert (creds.protocol.value, creds.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (creds.username, creds.password) == ("svc", "s3cret-pw")
    assert "s3cret-pw" not in repr(creds)


def test_kafka_security_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KILOWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KILOWATCH_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KILOWATCH_KAFKA_SASL_PASSWORD", "pw-from-env")
    monkeypatch.setenv("KILOWATCH_KAFKA_SSL_CHECK_HOSTNAME", "false")
    s = Settings()
    assert s.kafka.security_protocol == "SASL_SSL" and not s.kafka.ssl_check_hostname
    assert "pw-from-env" in settings_secrets(s)  # masked by the log redactor
    assert "pw-from-env" not in repr(s)


# --- PostgreSQL --------------------------------------------------------------------------------


def test_postgres_dsn_overrides_the_separate_settings() -> None:
    s = Settings(
        postgres_host="ignored.example",
        postgres_password=SecretStr("ignored"),
        postgres_dsn=SecretStr(
            "postgresql://app%40x:p%40ss%2Fw@db.example.org:6432/metering"
            "?sslmode=verify-full&sslrootcert=/etc/ssl/rds-ca.pem"
        ),
    )
    pg = s.postgres
    assert (pg.host, pg.port, pg.user, pg.db) == ("db.example.org", 6432, "app@x", "metering")
    assert pg.password.get_secret_value() == "p@ss/w"
    assert (pg.sslmode, pg.sslrootcert) == ("verify-full", Path("/etc/ssl/rds-ca.pem"))
    kw = connect_kwargs(s)
    assert kw["host"] == "db.example.org" and kw["password"] == "p@ss/w"
    assert kw["dsn"] == "postgresql://?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Frds-ca.pem"
    redacted = pg.dsn(with_password=False)
    assert "p%40ss" not in redacted and "p@ss" not in redacted and ":***@" in redacted
    assert pg.conn_url is not None
    assert {"p@ss/w", pg.conn_url.get_secret_value()} <= set(settings_secrets(s))  # both masked in logs


def test_postgres_dsn_errors_never_echo_the_dsn() -> None:
    with pytest.raises(ValidationError) as err:
        Settings(postgres_dsn=SecretStr("postgresql://u:topsecret@db/x?sslmode=require&password=zz"))
    assert "unsupported parameter 'password'" in str(err.value)
    assert "topsecret" not in str(err.value)
    with pytest.raises(ValidationError, match="must start with postgresql://"):
        Settings(postgres_dsn=SecretStr("mysql://u:topsecret@db/x"))
    with pytest.raises(ValidationError, match="sslmode"):
        Settings(postgres_sslmode="verify-everything")


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(user=text, password=text, db=text)
def test_any_user_password_and_db_survive_the_dsn_round_trip(user: str, password: str, db: str) -> None:
    pg = Settings(
        postgres_user=user, postgres_password=SecretStr(password), postgres_db=db, postgres_sslmode="require"
    ).postgres
    back = postgres_dsn_parts(pg.dsn())
    assert (back["user"], back["password"].get_secret_value(), back["db"]) == (user, password, db)
    assert back["sslmode"] == "require"


# --- Redis -------------------------------------------------------------------------------------


def test_rediss_url_turns_on_tls_with_certificate_checks(tmp_path: Path) -> None:
    s = Settings(
        redis_url=SecretStr("rediss://worker:r%2Fpw@cache.example.org:6380/3"),
        redis_ssl_cafile=str(tmp_path / "ca.pem"),
    )
    r = s.redis
    assert (r.host, r.port, r.db, r.username, r.tls) == ("cache.example.org", 6380, 3, "worker", True)
    assert r.password is not None and r.password.get_secret_value() == "r/pw"
    kw = redis_kwargs(r)
    assert kw["ssl"] and kw["ssl_cert_reqs"] == "required" and kw["ssl_check_hostname"]
    assert kw["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert r.redacted_url() == "rediss://worker:***@cache.example.org:6380/3"
    client = redis_client(s)
    assert type(client.connection_pool.connection_class).__name__ != "Connection"
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"


def test_plain_redis_stays_plain() -> None:
    kw = redis_kwargs(Settings(redis_url=SecretStr("redis://127.0.0.1:6379/0")).redis)
    assert "ssl" not in kw
    with pytest.raises(ValidationError, match="redis:// or rediss://"):
        Settings(redis_url=SecretStr("http://x"))


# --- unknown variables -------------------------------------------------------------------------


def test_unknown_kilowatch_variables_are_named_in_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings_mod, "_warned_unknown", set())
    monkeypatch.setenv("KILOWATCH_BACH_SIZE", "10")  # typo of BATCH_SIZE
    monkeypatch.setenv("KILOWATCH_KAFKA_SASL_PASWORD", "x")
    monkeypatch.setenv("KILOWATCH_BATCH_SIZE", "11")
    monkeypatch.setenv("KILOWATCH_DATA_DIR", "/data")  # read outside the settings: known
    with caplog.at_level(logging.WARNING, logger="stream_app.settings"):
        s = Settings()
        Settings()  # once per process, not per Settings()
    assert s.worker.batch_size == 11
    warnings = [r.getMessage() for r in caplog.records if "unknown environment" in r.getMessage()]
    assert len(warnings) == 1
    assert "KILOWATCH_BACH_SIZE" in warnings[0] and "KILOWATCH_KAFKA_SASL_PASWORD" in warnings[0]
    assert "KILOWATCH_BATCH_SIZE" not in warnings[0].replace("KILOWATCH_BACH_SIZE", "")
    assert "KILOWATCH_DATA_DIR" not in warnings[0]


def test_every_setting_and_group_field_is_a_known_name() -> None:
    env = {f"KILOWATCH_{flat.upper()}": "x" for flat in settings_mod.FLAT}
    env |= {"KILOWATCH_STATE_DIR": "x", "KILOWATCH_ENV": "x", "kilowatch_redis_port": "1", "OTHER": "x"}
    assert unknown_env_names(env) == []
    assert unknown_env_names({"KILOWATCH_POSTGRES_PASWORD": "x"}) == ["KILOWATCH_POSTGRES_PASWORD"]


def test_the_repository_reads_no_kilowatch_variable_the_settings_do_not_know() -> None:
    """A KILOWATCH_* name used anywhere (code, compose, Makefile, Dockerfile, scripts) must be a setting
    or listed in OTHER_ENV_NAMES, or operators who set it would be warned about it."""
    root = Path(__file__).resolve().parents[2]
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "build", "dist")]
        for name in files:
            if name.endswith((".py", ".yml", ".yaml", ".sh")) or name in ("Makefile", "Dockerfile"):
                text = (Path(folder) / name).read_text(errors="replace")
                found |= set(re.findall(r"KILOWATCH_[A-Z][A-Z0-9_]*[A-Z0-9]", text))
    test_typos = {"KILOWATCH_BACH_SIZE", "KILOWATCH_KAFKA_SASL_PASWORD", "KILOWATCH_POSTGRES_PASWORD"}
    assert len(found) > 20
    assert unknown_env_names(dict.fromkeys(found - test_typos, "")) == []


# --- the development password ------------------------------------------------------------------


def test_production_refuses_the_dev_password_even_on_loopback() -> None:
    with pytest.raises(ValidationError, match="KILOWATCH_ENV=production refuses"):
        Settings(env="production")
    assert Settings(env="production", postgres_password=SecretStr("real")).env == "production"
    assert Settings().postgres.password.get_secret_value() == DEV_POSTGRES_PASSWORD  # development


def test_production_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_ENV", "production")
    with pytest.raises(ValidationError, match="KILOWATCH_POSTGRES_PASSWORD"):
        Settings()


def test_a_dsn_carrying_the_dev_password_off_loopback_is_refused() -> None:
    dsn = f"postgresql://kilowatch:{DEV_POSTGRES_PASSWORD}@db.example.org:5432/kilowatch"
    with pytest.raises(ValidationError, match="loopback host"):
        Settings(postgres_dsn=SecretStr(dsn))
    dsn_local = f"postgresql://kilowatch:{DEV_POSTGRES_PASSWORD}@127.0.0.1:5432/kilowatch"
    assert Settings(postgres_dsn=SecretStr(dsn_local)).postgres.host == "127.0.0.1"
    with pytest.raises(ValidationError, match="production"):
        Settings(env="production", postgres_dsn=SecretStr(dsn_local))
