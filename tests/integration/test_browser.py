"""The chat widget in Debian's Chromium (Playwright, headless) against the real stack.

An analyst's whole workflow: upload with a progress bar, the four answers by clicking
buttons, results with the chart, the CSV download, a reload that keeps the conversation.
A second test proves that HTML in a ward name shows as text and never runs.
Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.tpr.sample import sample_frame, write_sample_file
from tests.integration.stack import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A loaded 2-core CI machine with three Rasa replicas: wait on conditions, generously.
REPLY_TIMEOUT_MS = 240_000
XSS_WARD = "<img src=x onerror=alert(1)>"

# Records every value the progress bar takes, and any script a page might run by accident.
OBSERVE_PROGRESS = """
window.__progress = [];
window.__progressShown = false;
document.addEventListener('DOMContentLoaded', () => {
  const bar = document.getElementById('progress-bar');
  const box = document.getElementById('upload-progress');
  new MutationObserver(() => {
    window.__progress.push(Number(bar.getAttribute('aria-valuenow')));
    if (!box.hidden) window.__progressShown = true;
  }).observe(bar, {attributes: true, attributeFilter: ['aria-valuenow', 'style']});
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (make browser-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def bot_count(page) -> int:
    return page.locator("#log .msg.bot").count()


def wait_for_reply(page, before: int) -> None:
    """A new bot message has arrived and the typing indicator is gone."""
    page.wait_for_function(
        """(before) => document.querySelectorAll('#log .msg.bot').length > before
             && document.getElementById('typing').hidden""",
        arg=before,
        timeout=REPLY_TIMEOUT_MS,
    )


def last_buttons(page):
    return page.locator("#log .msg.bot .buttons button:not([disabled])")


def click_answer(page, pattern: re.Pattern[str], shot: str, keyboard: bool = False) -> str:
    """Click (or focus and press Enter on) the enabled quick-reply whose title matches;
    returns the title chosen."""
    buttons = last_buttons(page)
    buttons.first.wait_for(timeout=REPLY_TIMEOUT_MS)
    titles = [t.strip() for t in buttons.all_inner_texts()]
    matching = [i for i, t in enumerate(titles) if pattern.search(t)]
    if not matching:
        page.screenshot(path=str(ARTIFACTS / f"{shot}-no-button.png"), full_page=True)
        raise AssertionError(f"no button matching {pattern.pattern!r} among {titles}")
    before = bot_count(page)
    if keyboard:
        buttons.nth(matching[0]).focus()
        page.keyboard.press("Enter")
    else:
        buttons.nth(matching[0]).click()
    wait_for_reply(page, before)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return titles[matching[0]]


def throttle_upload(page, bytes_per_second: int) -> None:
    """Chromium's own network emulation, so a small file uploads slowly enough to show
    intermediate progress, as a national file does over a 230 kbps link (-1 = off)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def drop_file(page, path: Path) -> None:
    """Drag-and-drop as the browser delivers it: dragenter, dragover, drop with the file."""
    page.evaluate(
        """([name, b64]) => {
             const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], name));
             for (const type of ['dragenter', 'dragover', 'drop']) {
               document.getElementById('log').dispatchEvent(
                 new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
             }
           }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )


def upload(page, path: Path, bytes_per_second: int = -1, drop: bool = False) -> dict:
    """Choose (or drop) the file as a user would; wait for the progress bar, then the bot's
    summary."""
    before = bot_count(page)
    throttle_upload(page, bytes_per_second)
    if drop:
        drop_file(page, path)
    else:
        page.set_input_files("#file-input", str(path))
    page.wait_for_function(
        "() => document.getElementById('upload-progress').dataset.state === 'done'",
        timeout=REPLY_TIMEOUT_MS,
    )
    throttle_upload(page, -1)
    wait_for_reply(page, before)
    return page.evaluate(
        """() => ({values: window.__progress, shown: window.__progressShown,
                  text: document.getElementById('progress-text').textContent})"""
    )


def chart_loaded(page) -> None:
    page.wait_for_function(
        """() => [...document.querySelectorAll('#log .msg.bot img')]
                 .some(img => img.complete && img.naturalWidth > 0)""",
        timeout=REPLY_TIMEOUT_MS,
    )


def download_result(page, suffix: str) -> Path:
    """Click the download links of the latest results until one yields a `suffix` file."""
    links = page.locator("#log .msg.bot a[href*='/api/download/']")
    links.first.wait_for(timeout=REPLY_TIMEOUT_MS)
    names = []
    for index in range(links.count() - 1, -1, -1):
        with page.expect_download(timeout=REPLY_TIMEOUT_MS) as download_info:
            links.nth(index).click()
        download = download_info.value
        names.append(download.suggested_filename)
        if download.suggested_filename.endswith(suffix):
            return Path(download.path())
    raise AssertionError(f"no {suffix} download among {names}")


def new_page(browser, **options):
    context = browser.new_context(accept_downloads=True, **options)
    context.set_default_timeout(REPLY_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(OBSERVE_PROGRESS)
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, dialogs, errors


def test_upload_answer_download_and_reload(
    shared_stack: RunningStack, browser, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    frame = sample_frame("A", states=2, rows_per_state=240, seed=11)
    workbook = write_sample_file(frame, tmp_path / "adamawa_kwara.xlsx", "A")
    context, page, dialogs, errors = new_page(browser, viewport={"width": 1280, "height": 900})
    try:
        page.goto(shared_stack.web_url + "/")
        page.wait_for_selector("#log .msg.bot")
        sender = page.evaluate("() => localStorage.getItem('tpr.sender')")
        assert sender

        # About 4 s for the upload: the bar must move through intermediate values.
        progress = upload(page, workbook, bytes_per_second=workbook.stat().st_size // 4)
        assert progress["shown"] and 100 in progress["values"], progress
        assert any(0 < value < 100 for value in progress["values"]), progress
        assert "Uploaded adamawa_kwara.xlsx" in progress["text"]
        page.screenshot(path=str(ARTIFACTS / "browser-1-summary.png"), full_page=True)
        conversation = page.locator("#log").inner_text()
        assert "Adamawa" in conversation and "Kwara" in conversation

        click_answer(page, re.compile(r"^\W*(1\W+)?Adamawa\b", re.I), "browser-2-state")
        click_answer(page, re.compile(r"\b(yes|proceed)\b", re.I), "browser-3-confirm")
        click_answer(page, re.compile(r"\bprimary\b", re.I), "browser-4-level")
        click_answer(page, re.compile(r"under\s*5|\bu5\b", re.I), "browser-5-age", keyboard=True)

        chart_loaded(page)
        page.screenshot(path=str(ARTIFACTS / "browser-6-results.png"), full_page=True)
        csv_path = download_result(page, ".csv")
        header = csv_path.read_text(encoding="utf-8-sig").splitlines()[0]
        assert header.startswith("state,lga,ward,tpr,tested,positive,method"), header

        shown_before = page.locator("#log .msg").count()
        page.reload()
        page.wait_for_function(
            "(n) => document.querySelectorAll('#log .msg').length >= n",
            arg=shown_before,
            timeout=REPLY_TIMEOUT_MS,
        )
        assert page.evaluate("() => localStorage.getItem('tpr.sender')") == sender
        chart_loaded(page)
        page.screenshot(path=str(ARTIFACTS / "browser-7-reloaded.png"), full_page=True)

        before = bot_count(page)
        page.fill("#message", "status")
        page.keyboard.press("Enter")
        wait_for_reply(page, before)
        page.screenshot(path=str(ARTIFACTS / "browser-8-continued.png"), full_page=True)
        replies = page.locator("#log .msg.bot").all_inner_texts()[before:]
        assert any("Adamawa" in reply for reply in replies), replies
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()


def test_html_in_a_ward_name_shows_as_text(
    shared_stack: RunningStack, browser, tmp_path: Path
) -> None:
    """A ward named like an <img onerror> tag: shown literally, no script runs (phone width,
    file dropped onto the page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    frame = sample_frame("B", states=1, rows_per_state=60, seed=12)
    ward_column = "orgunitlevel4"
    is_data = frame["orgunitlevel1"] != "Total"
    frame.loc[is_data, ward_column] = f"ad {XSS_WARD} Ward"
    workbook = write_sample_file(frame, tmp_path / "xss_ward.xlsx", "B")
    context, page, dialogs, errors = new_page(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        page.goto(shared_stack.web_url + "/")
        page.wait_for_selector("#log .msg.bot")
        upload(page, workbook, drop=True)
        assert page.locator("#drop-overlay").is_hidden()
        # Layout B: one state and no level column, so the bot may skip those questions.
        for _ in range(6):
            if page.locator("#log .msg.bot img").count():
                break
            titles = " ".join(last_buttons(page).all_inner_texts())
            if re.search(r"under\s*5|\bu5\b", titles, re.I):
                click_answer(page, re.compile(r"under\s*5|\bu5\b", re.I), "xss-age")
            elif re.search(r"\b(yes|proceed)\b", titles, re.I):
                click_answer(page, re.compile(r"\b(yes|proceed)\b", re.I), "xss-confirm")
            elif re.search(r"\ball\b", titles, re.I):
                click_answer(page, re.compile(r"\ball\b", re.I), "xss-level")
            elif re.search(r"adamawa", titles, re.I):
                click_answer(page, re.compile(r"adamawa", re.I), "xss-state")
            else:
                break
        chart_loaded(page)
        page.screenshot(path=str(ARTIFACTS / "browser-xss-results.png"), full_page=True)
        log_text = page.locator("#log").inner_text()
        assert XSS_WARD in log_text, "the ward name should be shown literally"
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (
            "the phone-width page must not scroll sideways"
        )
        stray = page.evaluate(
            """() => [...document.querySelectorAll('#log img')]
                     .filter(img => !img.src.includes('/api/download/')).length"""
        )
        assert stray == 0
        assert dialogs == [] and errors == [], (dialogs, errors)
    finally:
        context.close()


def test_unavailable_server_is_reported_and_retry_sends_once(
    shared_stack: RunningStack, browser
) -> None:
    """A 503, then no connection at all: a clear notice each time, and one Retry click sends
    the message exactly once more (a double click never sends it twice)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page, dialogs, errors = new_page(browser, viewport={"width": 390, "height": 844})
    attempts: list[str] = []
    plan = ["503", "abort"]  # what the first two attempts meet; later ones reach the stack

    def webhook(route) -> None:
        attempts.append(route.request.post_data_json["message"])
        outcome = plan.pop(0) if plan else "pass"
        if outcome == "503":
            route.fulfill(status=503, json={"error": "down"})
        elif outcome == "abort":
            route.abort("connectionrefused")
        else:
            route.continue_()

    try:
        page.route("**/webhooks/rest/webhook", webhook)
        page.goto(shared_stack.web_url + "/")
        page.wait_for_selector("#log .msg.bot")
        page.fill("#message", "help")
        page.keyboard.press("Enter")
        notice = page.locator("#notice")
        notice.wait_for(state="visible")
        assert "temporarily unavailable" in notice.inner_text()

        page.locator("#notice-retry").dblclick()
        page.wait_for_function(
            "() => !document.getElementById('notice').hidden"
            " && document.getElementById('notice-text').textContent.includes('Cannot reach')"
        )
        page.screenshot(path=str(ARTIFACTS / "browser-unreachable.png"), full_page=True)
        assert attempts == ["help", "help"]

        before = bot_count(page)
        page.locator("#notice-retry").click()
        wait_for_reply(page, before)
        assert notice.is_hidden()
        assert attempts == ["help", "help", "help"]
        assert page.locator("#log .msg.user", has_text="help").count() == 1
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()


def test_another_senders_dataset_is_refused_without_revealing_it(
    shared_stack: RunningStack, browser, tmp_path: Path
) -> None:
    """Mallory types Alice's dataset id into her own widget: the answer is word for word the
    one for an id that never existed, so it reveals nothing."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workbook = write_sample_file(
        sample_frame("A", states=1, rows_per_state=60, seed=13), tmp_path / "alice.xlsx", "A"
    )
    alice, alice_page, _, _ = new_page(browser)
    mallory, mallory_page, dialogs, errors = new_page(browser)
    try:
        alice_page.goto(shared_stack.web_url + "/")
        alice_page.wait_for_selector("#log .msg.bot")
        with alice_page.expect_response(
            lambda r: "/api/uploads/" in r.url and r.request.method == "GET"
        ) as response_info:
            upload(alice_page, workbook)
        alice_id = response_info.value.json()["dataset_id"]

        mallory_page.goto(shared_stack.web_url + "/")
        mallory_page.wait_for_selector("#log .msg.bot")

        def reply_to(command: str) -> str:
            before = bot_count(mallory_page)
            mallory_page.fill("#message", command)
            mallory_page.keyboard.press("Enter")
            wait_for_reply(mallory_page, before)
            return "\n".join(mallory_page.locator("#log .msg.bot").all_inner_texts()[before:])

        made_up = reply_to('/dataset_uploaded{"dataset_id": "' + "Q" * 43 + '"}')
        stolen = reply_to('/dataset_uploaded{"dataset_id": "' + alice_id + '"}')
        mallory_page.screenshot(path=str(ARTIFACTS / "browser-foreign-dataset.png"), full_page=True)
        assert stolen == made_up
        assert "Adamawa" not in stolen and "rows" not in stolen.lower()
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        alice.close()
        mallory.close()


def test_boundary_upload_and_the_map_image(
    shared_stack: RunningStack, browser, tmp_path: Path
) -> None:
    """A ward boundary file through the same upload button, then `show the map`: the widget
    sends /boundaries_uploaded, the match report appears, and the map image loads."""
    from actions.tpr import load_dataset
    from actions.tpr.sample_boundaries import sample_boundaries, write_boundaries

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workbook = write_sample_file(sample_frame("A", states=1, rows_per_state=240, seed=12),
                                 tmp_path / "adamawa.xlsx", "A")  # fmt: skip
    gdf, _ = sample_boundaries(load_dataset(workbook))
    boundaries = write_boundaries(gdf, tmp_path / "adamawa_wards.geojson")
    context, page, dialogs, errors = new_page(browser, viewport={"width": 412, "height": 915})
    try:
        page.goto(shared_stack.web_url + "/")
        page.wait_for_selector("#log .msg.bot")
        upload(page, workbook)
        progress = upload(page, boundaries)
        assert "ward polygons" in progress["text"], progress
        page.wait_for_function(
            """() => [...document.querySelectorAll('#log .msg.bot')]
                     .some(m => m.textContent.includes('Match with the boundaries'))""",
            timeout=REPLY_TIMEOUT_MS,
        )
        user_lines = page.locator("#log .msg.user").all_inner_texts()
        assert any("Uploaded boundaries adamawa_wards.geojson" in t for t in user_lines)

        before = bot_count(page)
        page.fill("#message", "show the map")
        page.keyboard.press("Enter")
        wait_for_reply(page, before)
        width = page.wait_for_function(
            """() => {
                 const maps = [...document.querySelectorAll('#log .msg.bot img')]
                   .filter(img => img.complete && img.naturalWidth > 0);
                 return maps.length ? maps[maps.length - 1].naturalWidth : 0;
               }""",
            timeout=REPLY_TIMEOUT_MS,
        ).json_value()
        assert width == 1080
        page.screenshot(path=str(ARTIFACTS / "browser-map.png"), full_page=True)
        assert not dialogs and not errors, (dialogs, errors)
    finally:
        context.close()
