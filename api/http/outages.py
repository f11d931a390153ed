"""Which exceptions mean "a backing service is down", and which service: answered 503 with Retry-After.

When PostgreSQL or Redis stops, their clients raise connection errors from wherever the request was
(key verification, a registry read, a job's live state, a readings query). Those are an outage, not a
bug: the caller should retry later, so they are answered 503 SERVICE_UNAVAILABLE with ``Retry-After``
(never 500 with a traceback). The pool and the Redis client reconnect by themselves on a later request.
"""

from __future__ import annotations

import asyncpg
from redis import exceptions as redis_errors

# asyncpg: the server refused or dropped the connection, is starting or shutting down, is full; the
# client's connection or pool is closed (InterfaceError). Redis: cannot connect, or timed out.
# OSError covers refused/reset sockets and DNS failures (asyncpg raises a bare OSError naming every
# address it tried); the builtin TimeoutError is an OSError too: the API's pool bounds every wait on
# PostgreSQL (a pooled connection, a new one, a statement; ``api_db_timeout_s``), so a frozen server
# raises TimeoutError from asyncpg, named PostgreSQL by its traceback. (QueryCanceledError, a
# statement the server cancelled, is an OperatorInterventionError.)
POSTGRES_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)
REDIS_ERRORS: tuple[type[Exception], ...] = (redis_errors.ConnectionError, redis_errors.TimeoutError)
OUTAGE_ERRORS: tuple[type[Exception], ...] = (*POSTGRES_ERRORS, *REDIS_ERRORS, OSError)


def service_of(exc: BaseException) -> str:
    """The service an outage error came from: its class, else the library its traceback ends in."""
    if isinstance(exc, POSTGRES_ERRORS):
        return "PostgreSQL"
    if isinstance(exc, REDIS_ERRORS):
        return "Redis"
    tb = exc.__traceback__
    found = "a backing service"
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith("asyncpg"):
            found = "PostgreSQL"
        elif module.startswith("redis"):
            found = "Redis"
        elif module.startswith(("aiokafka", "confluent_kafka")):
            found = "Kafka"
        tb = tb.tb_next
    return found
