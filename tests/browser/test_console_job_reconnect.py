"""The job follower recovers from a broken stream (issue 18): the real console follows a real LightGBM
training while Chromium aborts every request to the job's SSE stream (Playwright's ``page.route``), as a
Redis outage's 503 or a dropped connection would break it. The page says it is reconnecting, reads the job
by id meanwhile, and still reaches 100 % and TRAINED without a reload. Then a stream broken once only:
the follower reopens it and the job's log (which only the stream carries) arrives. No shared service is
stopped: the break is in this browser only."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ConsoleServer, Screenshot, SignIn
from tests.browser.training_steps import (
    expect_progress_100,
    open_training_panel,
    start_lightgbm,
    upload_readings,
)

N_ROWS = 1200
STREAM = re.compile(r"/api/v1/jobs/[^/?]+/logs/stream")
JOB_READ = re.compile(r"/api/v1/jobs/[^/?]+$")


def test_training_followed_through_a_broken_stream(
    page: Page,
    console_server: ConsoleServer,
    sign_in: SignIn,
    screenshot: Screenshot,
    data_dir: Path,
    history_sink: None,
    tmp_path: Path,
) -> None:
    asset = open_training_panel(page, console_server, sign_in, "admin", "browser-reconnect")
    upload_readings(page, console_server, asset, data_dir, tmp_path, N_ROWS)

    # 1. every stream request fails: progress and the final state come from GET /jobs/{id}
    aborted: list[str] = []
    reads: list[str] = []

    def abort_stream(route: Route) -> None:
        aborted.append(route.request.url)
        route.abort("connectionreset")

    page.route(STREAM, abort_stream)
    page.on("request", lambda r: reads.append(r.url) if JOB_READ.search(r.url) else None)
    page.evaluate("window.__kwSamePage = true")  # gone if the page reloads
    job = start_lightgbm(page)
    notice = page.get_by_test_id("job-reconnecting")
    expect(notice).to_have_text("Job stream lost: reconnecting… (progress read from the job meanwhile)")
    expect(job).to_have_attribute("data-link", "reconnecting")
    screenshot(page, "asset-training-reconnecting")
    expect_progress_100(page, console_server, asset, job)
    expect(page.get_by_test_id("job-status")).to_have_text("TRAINED")
    expect(job).to_have_attribute("data-link", "done")
    expect(notice).to_have_count(0)
    expect(page.get_by_test_id("job-log")).to_be_empty()  # nothing came over the (broken) stream
    assert len(aborted) >= 2, aborted  # the follower tried again (1 s, 2 s, ...), never got through
    assert reads, "the job was never read by id"
    assert page.evaluate("window.__kwSamePage === true"), "the page reloaded"
    # everything stops at the terminal status: no more stream attempts nor reads
    n_aborted, n_reads = len(aborted), len(reads)
    page.wait_for_timeout(5_000)
    assert (len(aborted), len(reads)) == (n_aborted, n_reads), (aborted[n_aborted:], reads[n_reads:])
    page.unroute(STREAM, abort_stream)

    # 2. the stream broken once only: the follower reopens it, and the log (stream only) arrives
    first: list[str] = []

    def abort_first(route: Route) -> None:
        if not first:
            first.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(STREAM, abort_first)
    shown_id = job.locator("code").inner_text()
    page.get_by_role("button", name="Start training").click()
    expect(job.locator("code")).not_to_have_text(shown_id)  # the new job's follower, not the last one
    expect(page.get_by_test_id("job-status")).to_have_text("TRAINED", timeout=240_000)
    expect(page.get_by_test_id("job-progress")).to_have_text("100 %")
    expect(page.get_by_test_id("job-log")).not_to_be_empty()
    assert len(first) == 1
    assert page.evaluate("window.__kwSamePage === true"), "the page reloaded"
