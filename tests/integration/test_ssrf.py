"""SSRF suite on the real services: training requests through the API (PostgreSQL, Kafka, Redis) whose
``data_url`` points at the server's own network, run by a real TrainingService (what the worker's agent
runs), and an alert webhook pointing at loopback.

A local HTTP server bound to loopback holds a secret. Every case must end refused with its fixed message,
the server must never be asked for the secret, and the secret must appear in no API response, job error,
job log, SSE job event or captured log line. ``KILOWATCH_SSRF_RESULTS=<file.md>`` writes the table of
cases (``scripts/ssrf-suite`` does, for bench/results/hardening-ssrf.md).
"""

from __future__ import annotations

import io
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from pydantic import SecretStr

from schemas.events import TrainingRequest, utc_now
from schemas.jobs import JobStatus
from stream_app.alerting import channels
from stream_app.alerting import store as alert_store
from stream_app.alerting.config import AlertConfig
from stream_app.alerting.service import AlertService
from stream_app.lifecycle import datasource as ds
from stream_app.lifecycle.service import TrainingService
from stream_app.logging_setup import build_handler
from stream_app.settings import Settings
from tests.integration.alerting_fixtures import anomaly, free_port, pg_pool
from tests.integration.api.conftest import Api, keyed_api
from tests.integration.api.registry_env import TopicTail, parse_sse, registry_settings, worker_service

pytestmark = pytest.mark.integration
__all__ = ["pg_pool"]  # fixture

SECRET = f"ssrf-secret-{uuid.uuid4().hex}"
PASSWD = "root:x:0:0:"  # how /etc/passwd begins


@dataclass
class Server:
    """The loopback server: /secret answers the secret (as a CSV's first line), /r?to= redirects."""

    port: int
    v6: bool
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Server]:
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(text=f"{SECRET},b\n1,2\n", content_type="text/csv")

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/secret", secret)
    app.router.add_get("/", secret)
    app.router.add_get("/latest/meta-data/", secret)
    app.router.add_get("/r", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    v6 = True
    try:
        await web.TCPSite(runner, "::1", port).start()  # the same port on IPv6 loopback, if there is one
    except OSError:
        v6 = False
    try:
        yield Server(port, v6, hits)
    finally:
        await runner.cleanup()


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of the process (JSON, as the worker writes them), at DEBUG."""
    out = io.StringIO()
    handler = build_handler("json", stream=out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


ROWS: list[tuple[str, str, bool, str]] = []  # (case, data_url as sent, refused, message) for the table


def _cases(port: int) -> list[tuple[str, str, str, str]]:
    """(case, data_url, expected message, worker) — worker "strict" has the defaults, "lan" allows
    private addresses for the allow-listed 127.0.0.1 only (so a redirect's target is what is refused),
    "private" allows private addresses (link-local, the metadata service, stays refused)."""
    return [
        ("loopback", f"http://127.0.0.1:{port}/secret", ds.REFUSED_ADDRESS, "strict"),
        ("10.x private", "http://10.0.0.1/", ds.REFUSED_ADDRESS, "strict"),
        ("cloud metadata", "http://169.254.169.254/latest/meta-data/", ds.REFUSED_ADDRESS, "strict"),
        ("IPv6 loopback", f"http://[::1]:{port}/", ds.REFUSED_ADDRESS, "strict"),
        ("IPv4-mapped IPv6", f"http://[::ffff:127.0.0.1]:{port}/secret", ds.REFUSED_ADDRESS, "strict"),
        ("decimal IPv4", f"http://2130706433:{port}/secret", ds.REFUSED_ADDRESS, "strict"),
        ("hex IPv4", f"http://0x7f.1:{port}/secret", ds.REFUSED_ADDRESS, "strict"),
        ("short IPv4", f"http://127.1:{port}/secret", ds.REFUSED_ADDRESS, "strict"),
        ("name resolving to loopback", f"http://localhost:{port}/secret", ds.REFUSED_ADDRESS, "strict"),
        (
            "credentials and token in the URL",
            f"http://u:pw-{SECRET}@127.0.0.1:{port}/secret?token=t-{SECRET}",
            ds.REFUSED_ADDRESS,
            "strict",
        ),
        (
            "redirect to loopback (first hop allowed)",
            f"http://127.0.0.1:{port}/r?to=http://localhost:{port}/secret",
            ds.REFUSED_HOST,
            "lan",
        ),
        (
            "redirect to cloud metadata (first hop allowed)",
            f"http://127.0.0.1:{port}/r?to=http://169.254.169.254/latest/meta-data/",
            ds.REFUSED_HOST,
            "lan",
        ),
        (
            "redirect to file:// (first hop allowed)",
            f"http://127.0.0.1:{port}/r?to=file:///etc/passwd",
            ds.REFUSED_URL,
            "lan",
        ),
        (
            "redirect to cloud metadata (private addresses allowed, no allow-list)",
            f"http://127.0.0.1:{port}/r?to=http://169.254.169.254/latest/meta-data/",
            ds.REFUSED_ADDRESS,
            "private",
        ),
    ]


@dataclass
class Suite:
    api: Api
    workers: dict[str, TrainingService]
    requests: TopicTail
    tag: str


@pytest.fixture(scope="module")
async def suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    tmp = tmp_path_factory.mktemp("ssrf")
    # The defaults of a deployment: no data folder (file:// off), no private addresses, no allow-list.
    strict = registry_settings(tmp, data_file_roots=())
    assert strict.outbound.allow_private is False and strict.outbound.allow_hosts == ()
    lan = strict.with_changes(outbound_allow_private=True, outbound_allow_hosts=("127.0.0.1",))
    private = strict.with_changes(outbound_allow_private=True)
    async with (
        keyed_api(strict) as api,
        worker_service(strict, api.resources) as strict_worker,
        worker_service(lan, api.resources) as lan_worker,
        worker_service(private, api.resources) as private_worker,
    ):
        await api.resources.producer()
        requests = await TopicTail(strict, "training-requests").start()
        try:
            yield Suite(
                api,
                {"strict": strict_worker, "lan": lan_worker, "private": private_worker},
                requests,
                strict.kafka.topic_prefix,
            )
        finally:
            await requests.stop()


async def _texts_of_job(api: Api, job_id: str) -> list[str]:
    """Everything a read key can see of a job: the job, the job list, its log lines, its SSE stream."""
    read = api.auth("read")
    job = await api.client.get(f"/api/v1/jobs/{job_id}", headers=read)
    logs = await api.client.get(f"/api/v1/jobs/{job_id}/logs", headers=read)
    stream = await api.client.get(f"/api/v1/jobs/{job_id}/logs/stream", headers=read)
    listed = await api.client.get("/api/v1/jobs", headers=read)
    assert job.status_code == logs.status_code == stream.status_code == 200
    events = [e.get("data", "") for e in parse_sse(stream.text)]
    assert any('"FAILED"' in e for e in events), stream.text
    return [job.text, logs.text, stream.text, listed.text, *events]


async def test_training_data_urls_into_the_servers_network_are_refused(
    suite: Suite, server: Server, captured: io.StringIO
) -> None:
    for i, (case, url, message, worker) in enumerate(_cases(server.port)):
        asset = f"{suite.tag}-ssrf-{i}"
        body = {"asset_id": asset, "model_type": "lsq", "data_url": url}
        r = await suite.api.client.post("/api/v1/training-jobs", json=body, headers=suite.api.auth("model"))
        assert r.status_code == 202, (case, r.text)
        job = r.json()["data"]
        record = await suite.requests.wait_for(
            lambda rec, rid=job["request_id"]: rec.value is not None and rid.encode() in rec.value
        )
        assert record.value is not None
        done = await suite.workers[worker].handle(TrainingRequest.model_validate_json(record.value))
        assert done.status is JobStatus.FAILED, (case, done)
        assert done.error == message, (case, done.error)
        texts = [r.text, *(await _texts_of_job(suite.api, job["id"]))]
        for text in texts:
            assert SECRET not in text, (case, text[:500])
        assert message in texts[1]  # the job as the API shows it carries the fixed message
        shown = url.replace(SECRET, "<secret>").replace(str(server.port), "<port>")
        ROWS.append((case, shown, True, done.error or ""))
    # The worker log names each refusal with its job id, and never the secret (nor a URL password).
    lines = captured.getvalue()
    assert SECRET not in lines
    assert lines.count("data_url refused") >= len(_cases(server.port))
    # The secret was never asked for: only the allowed first hops (the redirects) reached the server.
    assert [h for h in server.hits if not h.startswith("/r?")] == []


@pytest.mark.parametrize(
    ("case", "url", "message"),
    [
        ("file:///etc/passwd (file:// off by default)", "file:///etc/passwd", ds.FILE_OFF),
        ("file:// of a process's environment", "file:///proc/self/environ", ds.FILE_OFF),
    ],
)
async def test_file_urls_are_refused_by_the_api_and_the_worker(
    suite: Suite, captured: io.StringIO, case: str, url: str, message: str
) -> None:
    body = {"asset_id": f"{suite.tag}-file", "model_type": "lsq", "data_url": url}
    r = await suite.api.client.post("/api/v1/training-jobs", json=body, headers=suite.api.auth("model"))
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert any(d["loc"] == ["body", "data_url"] and d["msg"] == message for d in details), details
    assert PASSWD not in r.text
    # A request that reached Kafka some other way (an older API, a hand-made message) fails the same way.
    req = TrainingRequest(
        request_id=uuid.uuid4(),
        asset_id=f"{suite.tag}-file-direct",
        model_type="lsq",
        params={},
        data_url=url,
        requested_at=utc_now(),
    )
    done = await suite.workers["strict"].handle(req)
    assert done.status is JobStatus.FAILED and done.error == message
    for text in await _texts_of_job(suite.api, str(done.id)):
        assert PASSWD not in text
    assert PASSWD not in captured.getvalue()
    ROWS.append((case, url, True, message))


async def test_an_alert_webhook_to_loopback_is_refused(server: Server, captured: io.StringIO) -> None:
    before = list(server.hits)
    settings = Settings(alert_webhook_url=SecretStr(f"http://127.0.0.1:{server.port}/secret?token={SECRET}"))
    for url in (
        f"http://127.0.0.1:{server.port}/secret?token={SECRET}",
        f"http://localhost:{server.port}/secret",
        f"http://[::1]:{server.port}/",
        "http://169.254.169.254/latest/meta-data/",
    ):
        async with channels.webhook_session(settings) as session:
            with pytest.raises(channels.DeliveryError) as info:
                await channels.post_webhook(session, url, {"kind": "alert"}, timeout_s=5)
        assert str(info.value) == "webhook: refused (address not allowed)"
        assert SECRET not in str(info.value)
        shown = url.split("?")[0].replace(str(server.port), "<port>")
        ROWS.append(("alert webhook", shown, True, str(info.value)))
    assert server.hits == before and SECRET not in captured.getvalue()


async def test_the_alerting_service_does_not_deliver_to_loopback(
    server: Server, pg_pool: asyncpg.Pool, captured: io.StringIO
) -> None:
    """End to end through the AlertService: the anomaly is alerted, the webhook delivery is refused."""
    before = list(server.hits)
    url = f"http://127.0.0.1:{server.port}/secret?token={SECRET}"
    settings = Settings().with_changes(
        alert_webhook_url=SecretStr(url), alert_max_attempts=1, alert_smtp_port=free_port()
    )
    await alert_store.put_alert_config(pg_pool, AlertConfig(email="ops@example.com", threshold=0.99))
    svc = AlertService(settings, pg_pool)
    try:
        svc.handle(anomaly("ssrf-plant", datetime(2026, 3, 1, tzinfo=UTC)))
        await svc.flush(time.time())
    finally:
        await svc.close()
    rows = await pg_pool.fetch("SELECT * FROM alert_deliveries WHERE channel = 'webhook'")
    assert len(rows) == 1 and rows[0]["status"] != "sent"
    assert rows[0]["last_error"].startswith("webhook: refused"), rows[0]["last_error"]
    assert SECRET not in str([dict(r) for r in rows]) and SECRET not in captured.getvalue()
    assert server.hits == before
    ROWS.append(
        (
            "alerting service, webhook on loopback",
            "http://127.0.0.1:<port>/secret",
            True,
            rows[0]["last_error"],
        )
    )


async def test_an_allowed_download_never_shows_what_it_held(
    suite: Suite, server: Server, tmp_path: Path, captured: io.StringIO
) -> None:
    """A download that is allowed (private addresses allowed, 127.0.0.1 listed) of a CSV whose header
    is the secret: the real trainer's "no timestamp column" error quotes the columns; the job shows a
    fixed message, the columns go to the worker log only."""
    lan = registry_settings(
        tmp_path,
        data_file_roots=(),
        training_backend="trainers.backend",
        outbound_allow_private=True,
        outbound_allow_hosts=("127.0.0.1",),
    )
    async with worker_service(lan, suite.api.resources) as worker:
        req = TrainingRequest(
            request_id=uuid.uuid4(),
            asset_id=f"{suite.tag}-allowed",
            model_type="lightgbm",
            params={},
            data_url=f"http://127.0.0.1:{server.port}/secret",
            requested_at=utc_now(),
        )
        done = await worker.handle(req)
    assert done.status is JobStatus.FAILED and done.error == "training data has no timestamp column"
    assert "/secret" in server.hits  # it was fetched: the body reached the parser, not the job
    for text in await _texts_of_job(suite.api, str(done.id)):
        assert SECRET not in text
    lines = captured.getvalue()
    assert str(done.id) in lines and "no timestamp column" in lines
    ROWS.append(
        (
            "allowed download, CSV header = secret (real trainer)",
            "http://127.0.0.1:<port>/secret (allow-listed)",
            False,
            f"{done.error} (the columns: worker log only)",
        )
    )


def test_write_the_results_table() -> None:
    """Runs last (file order): the table of every case above, for docs."""
    target = os.environ.get("KILOWATCH_SSRF_RESULTS")
    if not target:
        pytest.skip("KILOWATCH_SSRF_RESULTS not set (scripts/ssrf-suite sets it)")
    assert ROWS, "no case ran"
    lines = [
        "# SSRF suite: server-side fetches into the server's own network",
        "",
        "Produced by `scripts/ssrf-suite` (tests/integration/test_ssrf.py on the real PostgreSQL, Kafka and "
        "Redis, training requests through the API, a loopback HTTP server holding a secret). Default "
        "settings unless noted: no data folder (file:// off), `outbound_allow_private=false`, no allow-list; "
        "the redirect cases run with private addresses allowed for the allow-listed `127.0.0.1` only, so the "
        "redirect's target is what is refused.",
        "",
        "| case | data_url / webhook | refused | message (job error / 422 / delivery error) |",
        "|---|---|---|---|",
    ]
    for case, url, refused, message in ROWS:
        lines.append(f"| {case} | `{url}` | {'yes' if refused else 'no (an allowed fetch)'} | {message} |")
    lines += [
        "",
        f"The secret was in no API response, job error, job log, SSE event or log line ({len(ROWS)} cases); "
        "the server was asked for it only in the allowed case (whose body reached the parser, not the job).",
        "",
    ]
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text("\n".join(lines))
