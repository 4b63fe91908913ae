"""Questions after the results on the 3-replica round-robin stack, through nginx.

One conversation asks every question of conversation.md ("After the results"); each is
answered by a different replica from the previous one (read from nginx's X-Upstream header).
The CSVs it downloads through nginx are compared with the engine CLI's own output
(`compute`, `compare`, `quality`) for the same file and selection.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from tests.integration.stack import (
    ANALYST_STEPS,
    REPO_ROOT,
    RunningStack,
    fallback_problems,
    fetch_tracker,
    post_message,
    uploaded_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SELECTION = ["--state", "Adamawa", "--facility-level", "primary", "--age-group", "u5"]
LINK = re.compile(r"/api/download/[A-Za-z0-9_-]+")


def save_dataset(redis_url: str, owner: str, path: Path) -> str:
    """The sample workbook stored for `owner` as an upload leaves it."""
    from actions.service.dataset_store import DatasetStore
    from actions.tpr import load_dataset, summarise

    dataset = load_dataset(path)

    async def save() -> str:
        store = DatasetStore(redis_url=redis_url)
        try:
            return await store.save(owner=owner, dataset=dataset, summary=summarise(dataset))
        finally:
            await store.close()

    return asyncio.run(save())


def engine_csv(command: str, path: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    """Rows of the engine CLI's CSV for the conversation's selection."""
    subprocess.run(
        [sys.executable, "-m", "actions.tpr", command, str(path), *SELECTION, *extra,
         "--out", str(out)],
        check=True, cwd=REPO_ROOT, capture_output=True, timeout=300,
    )  # fmt: skip
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))


def downloaded(stack: RunningStack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Every file the reply links, fetched through nginx: {'csv': rows, 'png': bytes, ...}."""
    files: dict[str, Any] = {}
    links = [m["image"] for m in messages if m.get("image")]
    links += [link for m in messages for link in LINK.findall(m.get("text") or "")]
    for link in links:
        response = requests.get(stack.web_url + link, timeout=120)
        assert response.status_code == 200, link
        kind = response.headers["Content-Type"].split(";")[0]
        if kind == "text/csv":
            files["csv"] = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        elif kind == "image/png":
            files["png"] = response.content
        else:
            files["xlsx"] = response.content
    return files


def same_rows(got: list[dict[str, str]], expected: list[dict[str, str]], columns: list[str]):
    assert [{c: r[c] for c in columns} for r in got] == [
        {c: r[c] for c in columns} for r in expected
    ]


def test_every_question_on_a_different_replica_matches_the_engine_cli(
    shared_stack: RunningStack, tmp_path: Path
) -> None:
    from actions.tpr.sample import sample_frame, write_sample_file

    workbook = write_sample_file(
        sample_frame("A", states=2, rows_per_state=240, seed=7), tmp_path / "nmep.xlsx"
    )
    sender = f"questions-{uuid.uuid4().hex[:8]}"
    dataset_id = save_dataset(shared_stack.redis_url, sender, workbook)
    for text, _ in [(uploaded_message(dataset_id), {}), *ANALYST_STEPS]:
        assert post_message(shared_stack.web_url, sender, text).status == 200

    wards = engine_csv("compute", workbook, tmp_path / "wards.csv")
    previous = ""
    transcript: list[dict[str, Any]] = []

    def ask(text: str) -> tuple[str, dict[str, Any]]:
        nonlocal previous
        reply = post_message(shared_stack.web_url, sender, text)
        assert reply.status == 200 and reply.messages, text
        assert reply.served_by and reply.served_by != previous, (
            f"{text!r} answered by {reply.served_by}, the same replica as the previous question"
        )
        previous = reply.served_by
        transcript.extend(reply.messages)
        body = "\n".join(m.get("text") or "" for m in reply.messages)
        return body, downloaded(shared_stack, reply.messages)

    body, files = ask("show the wards in Fufore")
    assert body.startswith("Fufore LGA.")
    fufore = [r for r in wards if r["lga"] == "Fufore"]
    ranked = sorted(
        fufore, key=lambda r: (r["tpr"] == "", -float(r["tpr"] or 0), -int(r["tested"]))
    )
    same_rows(files["csv"], ranked, ["lga", "ward", "tpr", "tested", "positive", "method"])

    body, files = ask("bottom 10")
    with_data = [r for r in wards if r["tpr"] != ""]
    bottom = sorted(with_data, key=lambda r: (float(r["tpr"]), -int(r["tested"])))[:10]
    same_rows(files["csv"], bottom, ["lga", "ward", "tpr", "tested"])

    body, files = ask("which wards have no data?")
    blank = [r for r in wards if r["tpr"] == ""]
    assert [(r["lga"], r["ward"]) for r in files["csv"]] == [(r["lga"], r["ward"]) for r in blank]
    assert all(r["reason"] for r in files["csv"])

    body, files = ask("totals by LGA")
    subprocess.run(
        [sys.executable, "-m", "actions.tpr", "compute", str(workbook), *SELECTION,
         "--out", str(tmp_path / "wards.xlsx")],
        check=True, cwd=REPO_ROOT, capture_output=True, timeout=300,
    )  # fmt: skip
    lgas = pd.read_excel(tmp_path / "wards.xlsx", sheet_name="LGAs")
    totals = {r["lga"]: r for r in files["csv"]}
    assert set(totals) == set(lgas["lga"]) | {"(state total)"}
    for row in lgas.to_dict("records"):
        got = totals[row["lga"]]
        for column in ("tested", "positive", "wards", "wards_with_data"):
            assert int(got[column]) == int(row[column]), (row["lga"], column)
        assert got["method"] == row["method"]
        assert (got["tpr"] == "") == pd.isna(row["tpr"])
        if got["tpr"]:
            assert abs(float(got["tpr"]) - float(row["tpr"])) < 0.006
    state = totals["(state total)"]
    column = {"rdt": "rdt_tested", "microscopy": "microscopy_tested"}[state["method"]]
    assert int(state["tested"]) == sum(int(r[column]) for r in wards)

    body, _ = ask("tell me about Yelwa")
    assert re.search(r"Yelwa is in 2 LGAs: .+; which one\?", body)
    body, _ = ask('/ask_ward{"ward": "Yelwa", "lga": "Fufore"}')
    yelwa = next(r for r in wards if r["lga"] == "Fufore" and r["ward"] == "Yelwa")
    assert "Yelwa ward (Fufore LGA)" in body
    assert f"tested, {yelwa['method'] if yelwa['method'] != 'rdt' else 'RDT'})" in body

    for text, vs in [
        ("compare with pregnant women", ["--vs", "age-group=pw"]),
        ("compare with all facilities", ["--vs", "facility-level=all"]),
    ]:
        body, files = ask(text)
        assert files["png"].startswith(b"\x89PNG")
        expected = engine_csv("compare", workbook, tmp_path / "compare.csv", *vs)
        same_rows(files["csv"], expected, list(expected[0]))

    body, files = ask("compare RDT and microscopy")
    expected = engine_csv(
        "compare", workbook, tmp_path / "methods.csv", "--method", "rdt", "--vs",
        "method=microscopy",
    )  # fmt: skip
    same_rows(files["csv"], expected, list(expected[0]))

    body, files = ask("show the invalid data")
    expected = engine_csv("quality", workbook, tmp_path / "quality.csv")
    assert expected, "the sample holds invalid pairs"
    same_rows(files["csv"], expected, list(expected[0]))

    body, files = ask("how complete is the reporting?")
    assert files["png"].startswith(b"\x89PNG")
    assert {r["lga"] for r in files["csv"]} == {r["lga"] for r in wards}

    body, _ = ask("can you book me a flight to Abuja")
    assert "I can answer questions about these results" in body

    tracker = fetch_tracker(shared_stack.replica_urls[0], sender)
    assert fallback_problems(transcript, tracker) == []
    assert tracker["slots"]["age_group"] == "u5" and tracker["slots"]["facility_level"] == "primary"
