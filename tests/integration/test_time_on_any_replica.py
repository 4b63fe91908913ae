"""A two-year file on the round-robin 3-replica stack: refinements and time questions, each turn
answered by whichever replica nginx picks (never the previous one twice in a row here), and the
trend CSV the conversation offers, downloaded through nginx, equal to the engine's `trend` CLI
output for the same selection."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import two_year_frame
from tests.integration.stack import (
    RunningStack,
    fallback_problems,
    fetch_tracker,
    other_replica,
    post_message,
    uploaded_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]


def cli_trend(file: Path, out_dir: Path, unit: str, *flags: str) -> list[dict[str, str]]:
    out = out_dir / f"trend_{unit}.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "actions.tpr",
            "trend",
            str(file),
            *flags,
            "--by",
            "month",
            "--unit",
            unit,
            "--out",
            str(out),
        ],  # fmt: skip
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))


def link_in(messages: list[dict[str, Any]], suffix: str, web_url: str) -> requests.Response:
    """Downloads (through nginx) the offered file whose name ends with `suffix`."""
    words = " ".join(m.get("text") or "" for m in messages).split()
    links = [w for w in words if w.startswith("/api/download/")]
    links += [m["image"] for m in messages if m.get("image")]
    for link in links:
        response = requests.get(web_url + link, timeout=120)
        assert response.status_code == 200, link
        disposition = response.headers.get("Content-Disposition", "")
        if suffix in disposition:
            return response
    raise AssertionError(f"no {suffix} download offered in {words}")


def test_time_questions_on_a_two_year_file_on_any_replica(
    shared_stack: RunningStack, tmp_path: Path
) -> None:
    from actions.tpr.sample import write_sample_file

    sender = f"time-{uuid.uuid4().hex[:10]}"
    path = write_sample_file(two_year_frame(states=2, rows_per_state=300), tmp_path / "two.xlsx")
    with path.open("rb") as handle:
        uploaded = requests.post(
            f"{shared_stack.web_url}/api/upload",
            params={"sender": sender},
            files={"file": ("two_years.xlsx", handle, "application/octet-stream")},
            timeout=300,
        )
    assert uploaded.status_code == 200, uploaded.text
    dataset_id = uploaded.json()["dataset_id"]

    transcript: list[dict[str, Any]] = []
    previous = ""

    def say(text: str, **slots: Any) -> list[dict[str, Any]]:
        nonlocal previous
        reply = post_message(shared_stack.web_url, sender, text, timeout=300)
        assert reply.status == 200 and reply.messages, f"{text!r}: HTTP {reply.status}"
        assert reply.served_by and reply.served_by != previous, (
            f"{text!r} answered by the same replica as the turn before ({previous})"
        )
        previous = reply.served_by
        tracker = fetch_tracker(other_replica(shared_stack, reply.served_by), sender)
        got = {name: tracker["slots"].get(name) for name in slots}
        assert got == slots, f"after {text!r}: {got}, expected {slots}"
        transcript.extend(reply.messages)
        return reply.messages

    say(uploaded_message(dataset_id), dataset_id=dataset_id)
    say("use RDT only", method="rdt")  # before the results: kept for them
    say("Adamawa State", state="Adamawa")
    say("only February to November 2024", period_start="202402", period_end="202411")
    say("yes", confirmed=True)
    say("Primary", facility_level="primary")
    results = say("Under 5", age_group="u5")
    assert any("RDT only" in (m.get("text") or "") for m in results)

    reply = say("show the monthly trend", method="rdt", period_start="202402")
    body = " ".join(m.get("text") or "" for m in reply)
    assert "Highest:" in body and "Lowest:" in body
    table = link_in(reply, "trend_adamawa_primary_u5_rdt_202402-202411.csv", shared_stack.web_url)
    offered = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    flags = ["--state", "Adamawa", "--facility-level", "primary", "--age-group", "u5",
             "--method", "rdt", "--period-from", "202402", "--period-to", "202411"]  # fmt: skip
    expected = [row for unit in ("state", "lga", "ward")
                for row in cli_trend(path, tmp_path, unit, *flags)]  # fmt: skip
    assert offered == expected
    assert link_in(reply, ".png", shared_stack.web_url).content.startswith(b"\x89PNG")

    say("all periods", period_start=None, period_end=None)
    reply = say("compare 2023 and 2024")
    assert "- 2023: " in reply[0]["text"] and "- 2024: " in reply[0]["text"]
    reply = say("which wards got worse?")
    assert "Wards that got worse from 2023 to 2024" in reply[0]["text"]
    assert "at least 50 valid tests" in reply[0]["text"]

    final = fetch_tracker(shared_stack.replica_urls[0], sender)
    assert fallback_problems(transcript, final) == []
