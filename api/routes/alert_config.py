"""The alert configuration: who gets anomaly alerts, above which score, how often, for which types.

``GET`` (read scope) answers 404 until a configuration was stored: until then the alerting agent
sends nothing (it runs with alerts disabled), and 404 says so instead of inventing a recipient.
``PUT`` replaces the whole configuration (omitted fields take their defaults) and needs the **admin**
scope: it decides where anomaly details are e-mailed, so the write keys that meters and pipelines
hold to post readings must not be able to redirect alerts. The stored row is read by the alerting
agent within its refresh interval (``stream_app.alerting.service``).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminKey, PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code
from stream_app.alerting import store as alert_store
from stream_app.alerting.config import AlertConfig

router = APIRouter(prefix="/alert-config", tags=["alerting"], responses=COMMON_RESPONSES)


class AlertConfigUpdate(AlertConfig):
    """The whole configuration to store: e-mail (required), threshold 0..1, frequency, anomaly types
    (empty = every type), enabled."""


class AlertConfigPublic(AlertConfig):
    """The stored configuration."""


@router.get("", response_model=Envelope[AlertConfigPublic], summary="The alert configuration")
async def get_alert_config(_key: ReadKey, pool: PoolDep) -> Envelope[AlertConfigPublic]:
    config = await alert_store.get_alert_config(pool)
    if config is None:
        raise ApiError(404, Code.RESOURCE_NOT_FOUND, "alert_config_missing")
    return ok(AlertConfigPublic(**config.model_dump()))


@router.put("", response_model=Envelope[AlertConfigPublic], summary="Replace the alert configuration")
async def put_alert_config(
    body: AlertConfigUpdate, _key: AdminKey, pool: PoolDep
) -> Envelope[AlertConfigPublic]:
    stored = await alert_store.put_alert_config(pool, AlertConfig(**body.model_dump()))
    return ok(AlertConfigPublic(**stored.model_dump()))
