"""The widget's resumable upload in Chromium over a slow link that breaks (tests/integration/
slow_link.py between the browser and nginx): it resumes by itself from the server's offset,
sends at most one chunk again, and reaches the summary; after a page reload it offers to
resume the unfinished file once the analyst picks it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from actions.tpr.sample import sample_frame, write_sample_file
from tests.integration import test_browser
from tests.integration.slow_link import SlowLink
from tests.integration.stack import RunningStack, fetch_tracker, wait_until
from tests.integration.test_browser import (
    ARTIFACTS,
    REPLY_TIMEOUT_MS,
    bot_count,
    new_page,
    wait_for_reply,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

browser = test_browser.browser  # the same Chromium fixture

WIDGET_CHUNK_BYTES = 2 * 1048576  # web/app.js CHUNK_BYTES
OBSERVE_TEXTS = """
window.__progressTexts = [];
document.addEventListener('DOMContentLoaded', () => {
  const text = document.getElementById('progress-text');
  new MutationObserver(() => window.__progressTexts.push(text.textContent))
    .observe(text, {childList: true, characterData: true, subtree: true});
});
"""


@pytest.fixture()
def workbook(tmp_path: Path) -> Path:
    frame = sample_frame("A", states=2, rows_per_state=3000, seed=5)
    return write_sample_file(frame, tmp_path / "two_states.xlsx", "A")


@pytest.fixture()
def link(shared_stack: RunningStack, workbook: Path) -> Iterator[SlowLink]:
    """64 KB/s up (a small file takes seconds, as a national one takes minutes at 230 kbps),
    cut once when 40% of the file has been sent."""
    port = urlparse(shared_stack.web_url).port
    proxy = SlowLink(port, 64 * 1024, cut_after_bytes=int(workbook.stat().st_size * 0.4))
    yield proxy.start()
    proxy.stop()


def test_widget_resumes_by_itself_after_the_link_breaks(
    shared_stack: RunningStack,
    browser,
    link: SlowLink,
    workbook: Path,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page, dialogs, errors = new_page(browser)
    page.add_init_script(OBSERVE_TEXTS)
    try:
        page.goto(link.url + "/")
        page.wait_for_selector("#log .msg.bot")
        before = bot_count(page)
        uploaded_before = link.uploaded
        page.set_input_files("#file-input", str(workbook))
        page.wait_for_function(
            "() => document.getElementById('upload-progress').dataset.state === 'done'",
            timeout=REPLY_TIMEOUT_MS,
        )
        wait_for_reply(page, before)
        page.screenshot(path=str(ARTIFACTS / "browser-slow-link-resumed.png"), full_page=True)

        assert link.cuts == 1
        texts = page.evaluate("() => window.__progressTexts")
        resumed = [t for t in texts if "resumed at" in t]
        assert resumed, texts
        total = workbook.stat().st_size / 1048576
        assert f"of {total:.1f} MB" in resumed[-1]
        # Everything the browser sent for the upload (headers included): the file once,
        # plus at most one chunk again.
        sent = link.uploaded - uploaded_before
        assert workbook.stat().st_size <= sent <= workbook.stat().st_size + WIDGET_CHUNK_BYTES
        summary = "\n".join(page.locator("#log .msg.bot").all_inner_texts()[before:])
        assert "Adamawa" in summary and "Kwara" in summary
        assert "resumed at" in page.locator("#progress-text").inner_text()
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()


def test_after_a_reload_the_widget_offers_to_resume_the_same_file(
    shared_stack: RunningStack,
    browser,
    workbook: Path,
    tmp_path: Path,
) -> None:
    port = urlparse(shared_stack.web_url).port
    slow = SlowLink(port, 24 * 1024).start()  # slow enough to reload mid-upload
    context, page, dialogs, errors = new_page(browser)
    page.add_init_script(OBSERVE_TEXTS)
    try:
        page.goto(slow.url + "/")
        page.wait_for_selector("#log .msg.bot")
        page.set_input_files("#file-input", str(workbook))

        def stored_url() -> str | None:
            return page.evaluate(
                """() => { for (let i = 0; i < localStorage.length; i++) {
                     const k = localStorage.key(i);
                     if (k.startsWith('tpr.upload.')) {
                       return JSON.parse(localStorage.getItem(k)).url;
                     }
                   } return null; }"""
            )

        url = wait_until(stored_url, timeout=60, what="the upload URL in localStorage")
        direct = f"{shared_stack.web_url}{urlparse(url).path}"

        def offset() -> int:
            reply = requests.head(direct, headers={"Tus-Resumable": "1.0.0"}, timeout=30)
            return int(reply.headers.get("Upload-Offset", 0))

        wait_until(lambda: offset() > 100_000, timeout=60, what="100 KB on the server")
        page.reload()
        page.wait_for_selector("#log .msg.bot")
        notice = page.locator("#notice")
        notice.wait_for(state="visible")
        assert "did not finish" in notice.inner_text() and workbook.name in notice.inner_text()
        kept = offset()
        assert kept > 100_000

        before = bot_count(page)
        page.set_input_files("#file-input", str(workbook))
        page.wait_for_function(
            "() => document.getElementById('notice-retry').textContent === 'Resume'"
            " && !document.getElementById('notice').hidden"
        )
        assert "already sent" in notice.inner_text()
        page.locator("#notice-retry").click()
        page.wait_for_function(
            "() => document.getElementById('upload-progress').dataset.state === 'done'",
            timeout=REPLY_TIMEOUT_MS,
        )
        wait_for_reply(page, before)
        texts = page.evaluate("() => window.__progressTexts")
        assert any("resumed at" in t for t in texts), texts
        # The same upload was continued (no new one created) and it holds the dataset.
        assert stored_url() is None  # finished: forgotten by the widget
        finished = requests.get(direct, timeout=60)
        assert finished.status_code == 200 and finished.json()["rows"] == 6000
        summary = "\n".join(page.locator("#log .msg.bot").all_inner_texts()[before:])
        assert "Adamawa" in summary
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()
        slow.stop()


def test_retry_after_a_lost_answer_is_not_processed_twice(
    shared_stack: RunningStack,
    browser,
) -> None:
    """The bot processed the message but the answer never arrived (connection reset): Retry
    shows the first processing's answer and the conversation holds the message once."""
    context, page, dialogs, errors = new_page(browser)
    attempts: list[str] = []

    def webhook(route) -> None:
        attempts.append(route.request.post_data_json["metadata"]["message_id"])
        if len(attempts) == 1:
            route.fetch(timeout=REPLY_TIMEOUT_MS)  # processed by the stack ...
            route.abort("connectionreset")  # ... and the answer is lost
        else:
            route.continue_()

    try:
        page.goto(shared_stack.web_url + "/")
        page.wait_for_selector("#log .msg.bot")
        sender = page.evaluate("() => localStorage.getItem('tpr.sender')")
        page.route("**/webhooks/rest/webhook", webhook)
        page.fill("#message", "help")
        page.keyboard.press("Enter")
        page.locator("#notice-retry").wait_for(state="visible")
        before = bot_count(page)
        page.locator("#notice-retry").click()
        wait_for_reply(page, before)
        assert len(attempts) == 2 and attempts[0] == attempts[1]
        reply = page.locator("#log .msg.bot").all_inner_texts()[before:]
        assert reply and "upload" in reply[0].lower()
        tracker = fetch_tracker(shared_stack.replica_urls[0], sender)
        helps = [e for e in tracker["events"] if e.get("event") == "user"]
        assert [e["text"] for e in helps] == ["help"]
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()
