"""The faust app's ``broker_credentials`` from the one security mapping (kept out of
``stream_app.kafka.security`` so the API, which must not import faust, can use that module)."""

from __future__ import annotations

from faust.auth import Credentials, SASLCredentials, SSLCredentials

from stream_app.kafka.security import client_security, ssl_context
from stream_app.settings import KafkaSettings


def faust_credentials(kafka: KafkaSettings) -> Credentials | None:
    """``broker_credentials`` of the faust app (None for PLAINTEXT); faust hands its aiokafka
    producer, consumer and admin client what :func:`aiokafka_security` gives the others."""
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return SSLCredentials(ssl_context(kafka))
    sec = client_security(kafka, "aiokafka")
    return SASLCredentials(
        username=sec["sasl_plain_username"],
        password=sec["sasl_plain_password"],
        ssl_context=ssl_context(kafka) if protocol == "SASL_SSL" else None,
        mechanism=sec["sasl_mechanism"],
    )
