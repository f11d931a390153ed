"""The alert configuration: who gets anomaly alerts, above which score, how often, for which types.

``GET`` (read scope) answers 404 until a configuration was stored: until then the alerting agent
sends nothing (it runs with alerts disabled), and 404 says so instead of inventing a recipient.
``PUT`` replaces the whole configuration (omitted fields take their defaults) and needs the **admin**
scope: it decides where anomaly details are e-mailed, so the write keys that meters and pipelines
hold to post readings must not be able to redirect alerts. The stored row is read by the alerting
agent within its refresh interval (``stream_app.alerting.service``).

The body follows the design document: the anomaly types are ``types`` (``anomaly_types``, the name
before issue 17, is still accepted on input; sending both is a 422 on ``anomaly_types``), the
threshold defaults to 0.85 (see :data:`stream_app.alerting.config.DEFAULT_THRESHOLD` for what it means
on kilowatch's calibrated scores) and answers carry ``updated_at`` (and, deprecated, the list again as
``anomaly_types`` so that readers of the old shape keep working). ``POST /alert-config/test`` sends
a test e-mail to the stored recipient now (admin scope): 502 ``SMTP_ERROR`` when the mail server
cannot be reached or refuses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from api.deps import AdminKey, PoolDep, ReadKey, SettingsDep
from api.http.envelope import COMMON_RESPONSES, Envelope, ErrorResponse, ok
from api.http.errors import ApiError, Code
from schemas.events import AnomalyKind
from stream_app.alerting import channels
from stream_app.alerting import store as alert_store
from stream_app.alerting.config import DEFAULT_THRESHOLD, AlertConfig, Frequency, valid_email

router = APIRouter(prefix="/alert-config", tags=["alerting"], responses=COMMON_RESPONSES)

Email = Annotated[
    str, Field(max_length=320, description="Recipient of alert e-mails."), AfterValidator(valid_email)
]
TEST_SUBJECT = "[kilowatch] test alert"
TEST_BODY = "This is a test message from kilowatch: alert e-mails reach this address."


class _AlertConfigBase(BaseModel):
    email: Email
    threshold: float = Field(
        DEFAULT_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="Minimum anomaly score that alerts. Anomalies reach alerting only once a detector "
        "flagged them (online detector at 0.996, trained detectors at their 0.98 calibration quantile), so "
        "the default 0.85 alerts on every reported anomaly; raise it to alert only on rarer ones.",
    )
    frequency: Frequency = Field("immediate", description="immediate, hourly or daily_digest.")
    enabled: bool = Field(True, description="Alerts are off while false.")


class AlertConfigUpdate(_AlertConfigBase):
    """The whole configuration to store: e-mail (required), threshold 0..1 (default 0.85), frequency,
    anomaly types (empty = every type; ``anomaly_types`` accepted as the old name), enabled."""

    model_config = ConfigDict(extra="forbid")

    types: list[AnomalyKind] = Field(
        default_factory=list,
        validation_alias=AliasChoices("types", "anomaly_types"),
        description="Anomaly types that alert (empty = every type).",
    )

    def config(self) -> AlertConfig:
        return AlertConfig(
            email=self.email,
            threshold=self.threshold,
            frequency=self.frequency,
            anomaly_types=tuple(self.types),
            enabled=self.enabled,
        )


class AlertConfigPublic(_AlertConfigBase):
    """The stored configuration and when it was last replaced."""

    types: list[AnomalyKind] = Field(description="Anomaly types that alert (empty = every type).")
    anomaly_types: list[AnomalyKind] = Field(
        deprecated=True,
        description="The same list as `types`, under its name before issue 17 (kept for old clients).",
    )
    updated_at: datetime = Field(description="When the configuration was last stored (UTC).")

    @classmethod
    def of(cls, config: AlertConfig, updated_at: datetime) -> AlertConfigPublic:
        return cls(
            email=config.email,
            threshold=config.threshold,
            frequency=config.frequency,
            types=list(config.anomaly_types),
            anomaly_types=list(config.anomaly_types),
            enabled=config.enabled,
            updated_at=updated_at,
        )


class AlertTestPublic(BaseModel):
    sent: bool = Field(description="True: the mail server accepted the test message.")
    email: str = Field(description="Where it was sent (the stored recipient).")


@router.get("", response_model=Envelope[AlertConfigPublic], summary="The alert configuration")
async def get_alert_config(_key: ReadKey, pool: PoolDep) -> Envelope[AlertConfigPublic]:
    stamped = await alert_store.get_alert_config_stamped(pool)
    if stamped is None:
        raise ApiError(404, Code.RESOURCE_NOT_FOUND, "alert_config_missing")
    return ok(AlertConfigPublic.of(*stamped))


@router.put("", response_model=Envelope[AlertConfigPublic], summary="Replace the alert configuration")
async def put_alert_config(
    body: AlertConfigUpdate, _key: AdminKey, pool: PoolDep
) -> Envelope[AlertConfigPublic]:
    stored = await alert_store.put_alert_config_stamped(pool, body.config())
    return ok(AlertConfigPublic.of(*stored))


@router.post(
    "/test",
    response_model=Envelope[AlertTestPublic],
    summary="Send a test alert e-mail to the stored recipient now",
    responses={502: {"model": ErrorResponse, "description": "The mail server failed (SMTP_ERROR)."}},
)
async def test_alert_email(_key: AdminKey, pool: PoolDep, settings: SettingsDep) -> Envelope[AlertTestPublic]:
    config = await alert_store.get_alert_config(pool)
    if config is None:
        raise ApiError(404, Code.RESOURCE_NOT_FOUND, "alert_config_missing")
    try:
        await channels.send_email(settings, config.email, TEST_SUBJECT, TEST_BODY)
    except channels.DeliveryError as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "DeliveryError"
        raise ApiError(502, Code.SMTP_ERROR, "smtp_error", details={"reason": cause}) from None
    return ok(AlertTestPublic(sent=True, email=config.email))
