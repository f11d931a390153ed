"""How every Kafka client connects (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL): one mapping from
:class:`~stream_app.settings.KafkaSettings` to each client's configuration.

:func:`client_security` is pure (settings in, plain values out) and is what every client factory uses:
confluent-kafka (``clients.producer``/``consumer``/``PolledProducer``, the topic admin), aiokafka (the
API's producer, the model-updates follower) and faust (the worker app, whose aiokafka clients get
the same values through ``broker_credentials``: ``faust_compat.credentials``). Only
:func:`ssl_context` reads files: the certificate and key, when a TLS connection is built.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from stream_app.settings import KafkaSettings

Client = Literal["confluent", "aiokafka"]


def client_security(kafka: KafkaSettings, client: Client) -> dict[str, Any]:
    """The security part of a client's configuration (empty for PLAINTEXT: nothing changes).

    ``confluent``: librdkafka properties. ``aiokafka``: keyword arguments of ``AIOKafkaProducer`` /
    ``AIOKafkaConsumer`` except ``ssl_context`` (a TLS protocol needs one: :func:`aiokafka_security`).
    The password values are plain strings here: never log the result."""
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return {}
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password is not None else None
    if client == "confluent":
        conf: dict[str, Any] = {"security.protocol": protocol}
        if sasl:
            conf |= {
                "sasl.mechanism": kafka.sasl_mechanism,
                "sasl.username": kafka.sasl_username,
                "sasl.password": password,
            }
        if tls:
            conf["ssl.endpoint.identification.algorithm"] = "https" if kafka.ssl_check_hostname else "none"
            if kafka.ssl_cafile is not None:
                conf["ssl.ca.location"] = str(kafka.ssl_cafile)
            if kafka.ssl_certfile is not None:
                conf["ssl.certificate.location"] = str(kafka.ssl_certfile)
            if kafka.ssl_keyfile is not None:
                conf["ssl.key.location"] = str(kafka.ssl_keyfile)
            if kafka.ssl_key_password is not None:
                conf["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
        return conf
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if sasl:
        kwargs |= {
            "sasl_mechanism": kafka.sasl_mechanism,
            "sasl_plain_username": kafka.sasl_username,
            "sasl_plain_password": password,
        }
    return kwargs


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The TLS context of the aiokafka and faust clients: the CA file (else the system's CAs), the
    client certificate if any, host-name checking as configured; TLS 1.2 at least."""
    ctx = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile is not None else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if kafka.ssl_certfile is not None and kafka.ssl_keyfile is not None:
        ctx.load_cert_chain(
            str(kafka.ssl_certfile),
            str(kafka.ssl_keyfile),
            password=kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None,
        )
    ctx.check_hostname = kafka.ssl_check_hostname
    return ctx


def aiokafka_security(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client: :func:`client_security` plus the TLS context."""
    kwargs = client_security(kafka, "aiokafka")
    if kafka.security_protocol.endswith("SSL"):
        kwargs["ssl_context"] = ssl_context(kafka)
    return kwargs
