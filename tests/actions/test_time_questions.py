"""Time questions in the conversation on a real two-year dataset in a real private Redis.

Expected figures come from `reference_series`, an independent plain-Python reading of the rules
in tpr-method.md over the raw sample table (no engine code), never from the action's code path.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from typing import Any

import openpyxl
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import dataset_summary
from actions.conversation.messages import TIME_NEEDS_STATE
from actions.conversation.time_questions import (
    ActionTrend,
    ActionWorsenedWards,
    ActionYearByYear,
    trend_focus,
)
from actions.tpr.sample import indicator_headers
from tests.actions.conftest import DOMAIN, Datasets, loop_events, make_tracker, texts
from tests.helpers import two_year_frame

DONE = {"state": "Adamawa", "confirmed": True, "facility_level": "all", "age_group": "all"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip


def _clean(text: Any, suffix: str) -> str:
    """`ad Fufore Local Government Area` -> `fufore` (prefix code, suffix, case, spaces)."""
    words = str(text).split()[1:]
    name = " ".join(words)
    if name.casefold().endswith(suffix.casefold()):
        name = name[: -len(suffix)]
    return " ".join(name.split()).casefold()


def reference_series(
    level: str = "all", age: str = "all", method: str = "max", unit: str = "state",
    by: str = "month", first: int | None = None, last: int | None = None,
) -> dict[tuple[str, str, str], tuple[float, int, int, str]]:  # fmt: skip
    """{(period, lga, ward): (tpr, tested, positive, method)} for Adamawa of two_year_frame(),
    by the cell rules and the method rule, in plain Python."""
    frame = two_year_frame()
    headers = indicator_headers("A")
    ages = ("u5", "o5", "pw") if age == "all" else (age,)
    sums: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in frame.to_dict("records"):
        if "Adamawa" not in str(row["State"]):
            continue
        if level != "all" and not str(row["level"]).casefold().startswith(level):
            continue
        code = int(row["periodcode"])
        if (first and code < first) or (last and code > last):
            continue
        period = str(code) if by == "month" else str(code // 100)
        lga = _clean(row["LGA"], " Local Government Area") if unit != "state" else ""
        ward = _clean(row["Ward"], " Ward") if unit == "ward" else ""
        cell = sums[(period, lga, ward)]
        for m, key in (("rdt", "rdt"), ("mic", "microscopy")):
            for a in ages:
                t = row[headers[f"{key if key == 'rdt' else 'micro'}_tested_{a}"]]
                p = row[headers[f"{key if key == 'rdt' else 'micro'}_positive_{a}"]]
                t = 0.0 if t is None or (isinstance(t, float) and math.isnan(t)) else float(t)
                p_blank = p is None or (isinstance(p, float) and math.isnan(p))
                if t > 0 and (p_blank or 0 <= p <= t):
                    cell[f"{m}_t"] += t
                    cell[f"{m}_p"] += 0.0 if p_blank else float(p)
    out = {}
    for key, cell in sums.items():
        rt, rp, mt, mp = cell["rdt_t"], cell["rdt_p"], cell["mic_t"], cell["mic_p"]
        rdt = 100 * rp / rt if rt > 0 else None
        mic = 100 * mp / mt if mt > 0 else None
        if method == "rdt":
            chosen = ("rdt", rdt, rt, rp)
        elif method == "microscopy":
            chosen = ("microscopy", mic, mt, mp)
        elif method == "combined":
            both = rt + mt
            chosen = ("combined", 100 * (rp + mp) / both if both else None, both, rp + mp)
        elif mic is not None and (rdt is None or mic > rdt):
            chosen = ("microscopy", mic, mt, mp)
        else:
            chosen = ("rdt", rdt, rt, rp)
        name, rate, t, p = chosen
        out[key] = (float("nan"), 0, 0, "none") if rate is None else (rate, int(t), int(p), name)
    return out


def month_name(code: str) -> str:
    return f"{MONTHS[int(code) % 100 - 1]} {int(code) // 100}"


async def ask(action: Any, datasets: Datasets, text: str, intent: str, slots: dict | None = None,
              active_loop: str | None = None) -> tuple[CollectingDispatcher, list]:  # fmt: skip
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        datasets.two_years, text, intent, slots={**DONE, **(slots or {})},
        active_loop=active_loop,
    )  # fmt: skip
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher, events


async def download(dispatcher: CollectingDispatcher, suffix: str) -> Any:
    """The stored file behind the reply's link whose file name ends with `suffix`."""
    store = dataset_summary.result_store()
    links = re.findall(r"/api/download/\S+", "\n".join(texts(dispatcher)))
    links += [m["image"] for m in dispatcher.messages if m.get("image")]
    for link in links:
        stored = await store.load(link.rsplit("/", 1)[1])
        if stored.filename.endswith(suffix):
            return stored
    raise AssertionError(f"no {suffix} download in {texts(dispatcher)}")


def csv_rows(stored: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(stored.data.decode("utf-8-sig"))))


def assert_rows_match(rows: list[dict[str, str]], expected: dict) -> None:
    assert len(rows) == len(expected)
    for row in rows:
        key = (row["period"], row["lga"].casefold(), row["ward"].casefold())
        tpr, tested, positive, method = expected[key]
        assert (int(row["tested"]), int(row["positive"]), row["method"]) == (
            tested, positive, method
        ), key  # fmt: skip
        if math.isnan(tpr):
            assert row["tpr"] == ""  # blank is no data, never 0
        else:
            assert float(row["tpr"]) == pytest.approx(round(tpr, 2), abs=1e-9)


async def test_monthly_trend_text_chart_csv_and_xlsx(datasets: Datasets) -> None:
    dispatcher, events = await ask(ActionTrend(), datasets, "show the monthly trend", "ask_trend")
    assert events == []
    state = reference_series()
    known = {k: v for k, v in state.items() if not math.isnan(v[0])}
    high = max(known, key=lambda k: known[k][0])
    low = min(known, key=lambda k: known[k][0])
    body = "\n".join(texts(dispatcher))
    assert (
        f"Highest: {month_name(high[0])}, {known[high][0]:.1f}% of {known[high][1]:,} tests. "
        f"Lowest: {month_name(low[0])}, {known[low][0]:.1f}% of {known[low][1]:,} tests."
    ) in body
    assert "higher of RDT and microscopy" in body and "January 2023 to December 2024" in body
    peaks = []
    for year in ("2023", "2024"):
        in_year = {k: v for k, v in known.items() if k[0].startswith(year)}
        top = max(sorted(in_year), key=lambda k: in_year[k][0])  # first month on a tie
        peaks.append(f"{year}: {month_name(top[0]).split()[0]} ({in_year[top][0]:.1f}%)")
    assert "Peak month of each year: " + "; ".join(peaks) + "." in body

    table = await download(dispatcher, ".csv")
    assert table.filename == "trend_adamawa_all_all_max_202301-202412.csv"
    rows = csv_rows(table)
    assert_rows_match([r for r in rows if r["lga"] == ""], state)
    assert_rows_match([r for r in rows if r["lga"] and not r["ward"]], reference_series(unit="lga"))
    assert_rows_match([r for r in rows if r["ward"]], reference_series(unit="ward"))
    chart = await download(dispatcher, ".png")
    assert chart.data.startswith(b"\x89PNG")
    book = openpyxl.load_workbook(io.BytesIO((await download(dispatcher, ".xlsx")).data))
    assert book.sheetnames == ["state by month", "LGAs by month", "wards by month"]
    assert book["state by month"].max_row == 1 + 24


async def test_trend_for_an_lga_and_for_a_ward(datasets: Datasets) -> None:
    lga_rows = reference_series(unit="lga")
    lga = sorted({k[1] for k in lga_rows})[0]
    dispatcher, _ = await ask(
        ActionTrend(), datasets, f"show the monthly trend for {lga.title()}", "ask_trend"
    )
    assert f"{lga.title()} LGA" in texts(dispatcher)[0]
    rows = csv_rows(await download(dispatcher, ".csv"))
    assert {r["lga"].casefold() for r in rows} == {lga}
    assert_rows_match(
        [r for r in rows if not r["ward"]], {k: v for k, v in lga_rows.items() if k[1] == lga}
    )

    ward_rows = reference_series(unit="ward")
    names: dict[str, set[str]] = defaultdict(set)
    for _, l_name, w_name in ward_rows:
        names[w_name].add(l_name)
    ward = sorted(w for w, lgas in names.items() if len(lgas) == 1)[0]
    dispatcher, _ = await ask(
        ActionTrend(), datasets, f"trend for {ward.title()} ward", "ask_trend"
    )
    rows = csv_rows(await download(dispatcher, ".csv"))
    assert {r["ward"].casefold() for r in rows} == {ward}
    assert_rows_match(rows, {k: v for k, v in ward_rows.items() if k[2] == ward})


async def test_trend_respects_the_method_and_period_in_force(datasets: Datasets) -> None:
    slots = {"facility_level": "primary", "age_group": "u5", "method": "rdt",
             "period_start": "202403", "period_end": "202406"}  # fmt: skip
    dispatcher, _ = await ask(ActionTrend(), datasets, "monthly trend", "ask_trend", slots)
    table = await download(dispatcher, ".csv")
    assert table.filename == "trend_adamawa_primary_u5_rdt_202403-202406.csv"
    rows = [r for r in csv_rows(table) if r["lga"] == ""]
    expected = reference_series("primary", "u5", "rdt", first=202403, last=202406)
    assert [r["period"] for r in rows] == ["202403", "202404", "202405", "202406"]
    assert_rows_match(rows, expected)


async def test_year_by_year_gives_each_year_and_the_change(datasets: Datasets) -> None:
    dispatcher, _ = await ask(
        ActionYearByYear(), datasets, "compare 2023 and 2024", "ask_year_by_year"
    )
    text = texts(dispatcher)[0]
    years = reference_series(by="year")
    for year in ("2023", "2024"):
        tpr, tested, _, _ = years[(year, "", "")]
        assert f"- {year}: {tpr:.1f}% of {tested:,} tests" in text
    change = years[("2024", "", "")][0] - years[("2023", "", "")][0]
    assert f"Change 2023 to 2024 for the state: {change:+.1f} points." in text
    assert "at least 5 percentage points, with at least 50 valid tests" in text
    book = openpyxl.load_workbook(io.BytesIO((await download(dispatcher, ".xlsx")).data))
    assert book.sheetnames == ["wards 2023 vs 2024", "state by year", "LGAs by year"]


async def test_worsened_wards_by_the_rule_with_the_not_comparable_ones(
    datasets: Datasets,
) -> None:
    dispatcher, _ = await ask(
        ActionWorsenedWards(), datasets, "which wards got worse?", "ask_worsened_wards"
    )
    text = texts(dispatcher)[0]
    wards = reference_series(unit="ward", by="year")
    worsened, blocked = [], 0
    for lga, ward in sorted({(k[1], k[2]) for k in wards}):
        a, b = wards.get(("2023", lga, ward)), wards.get(("2024", lga, ward))
        if math.isnan(a[0]) or math.isnan(b[0]) or a[1] < 50 or b[1] < 50:
            blocked += 1
        elif b[0] - a[0] >= 5:
            worsened.append((b[0] - a[0], lga, ward, a, b))
    assert worsened, "the two-year sample must have worsened wards"
    assert f"{len(worsened)} ward{'s' if len(worsened) != 1 else ''} worsened:" in text
    lines = [line for line in text.splitlines() if re.match(r"\d+\. ", line)]
    assert len(lines) == min(15, len(worsened))
    for change, lga, ward, a, b in sorted(worsened, reverse=True)[:15]:
        assert any(
            line.casefold().startswith(tuple(f"{n}. {ward} ({lga})" for n in range(1, 16)))
            and f"{a[0]:.1f}% in 2023 -> {b[0]:.1f}% in 2024 ({change:+.1f} points;" in line
            for line in lines
        ), (ward, lga)
    if blocked:
        were = "ward was" if blocked == 1 else "wards were"
        assert f"{blocked} {were} not comparable (" in text
    assert "at least 5 percentage points" in text
    table = csv_rows(await download(dispatcher, ".csv"))
    assert sum(r["status"] == "worsened" for r in table) == len(worsened)


async def test_a_one_year_file_gets_a_clear_sentence(datasets: Datasets) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(datasets.two_states, "year by year", "ask_year_by_year", slots=DONE,
                           active_loop=None)  # fmt: skip
    assert await ActionYearByYear().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher) == [
        "This file covers only 2024 (12 months), so there is no year-by-year comparison. "
        "Ask 'show the monthly trend' to see the months."
    ]


async def test_years_outside_the_file_are_named(datasets: Datasets) -> None:
    dispatcher, _ = await ask(
        ActionYearByYear(), datasets, "compare 2019 and 2024", "ask_year_by_year"
    )
    assert texts(dispatcher) == [
        "This file has no data for 2019; it covers 2023 to 2024. Nothing was changed."
    ]


async def test_without_a_state_the_trend_asks_for_one_and_the_form_goes_on(
    datasets: Datasets,
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(datasets.two_states, "show the monthly trend", "ask_trend")
    events = await ActionTrend().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == [TIME_NEEDS_STATE]
    assert loop_events(events) == ["tpr_form"]


async def test_a_ward_name_two_lgas_share_gets_a_which_one_question(datasets: Datasets) -> None:
    ward_rows = reference_series(unit="ward")
    lgas = sorted({lga for _, lga, ward in ward_rows if ward == "yelwa"})
    assert len(lgas) == 2, "the sample repeats Yelwa in two LGAs"
    dispatcher, _ = await ask(ActionTrend(), datasets, "trend for Yelwa ward", "ask_trend")
    [message] = dispatcher.messages
    shown = [lga.title() for lga in lgas]
    assert message["text"] == f"Yelwa is in 2 LGAs: {', '.join(shown)}; which one?"
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads == [f"show the monthly trend for Yelwa ward in {lga}" for lga in shown]

    # The button's text names the LGA: that ward's series only.
    dispatcher, _ = await ask(ActionTrend(), datasets, payloads[1], "ask_trend")
    rows = csv_rows(await download(dispatcher, ".csv"))
    assert {(r["lga"].casefold(), r["ward"].casefold()) for r in rows} == {(lgas[1], "yelwa")}
    assert_rows_match(rows, {k: v for k, v in ward_rows.items() if k[1:] == (lgas[1], "yelwa")})


PLACES_LGAS = ["Fufore", "Yola North", "Yola South"]
PLACES_WARDS = [("Fufore", "Bille"), ("Fufore", "Yelwa"), ("Yola North", "Yelwa"),
                ("Yola South", "Mayo Ine")]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("show the monthly trend", ("state", None, None, [])),
        ("show the trend of positivity", ("state", None, None, [])),
        ("trend for the whole state", ("state", None, None, [])),
        ("show the monthly trend for Fufore", ("lga", "Fufore", None, [])),
        ("monthly trend in Yola North LGA", ("lga", "Yola North", None, [])),
        ("trend for Fufure", ("lga", "Fufore", None, [])),  # misspelt
        ("trend for Bille ward", ("ward", "Fufore", "Bille", [])),
        ("trend for Bile ward", ("ward", "Fufore", "Bille", [])),
        ("TPR by month for Mayo Ine ward", ("ward", "Yola South", "Mayo Ine", [])),
        ("trend for Yelwa ward", ("ambiguous", None, "Yelwa", ["Fufore", "Yola North"])),
        ("trend for Yelwa ward in Yola North", ("ward", "Yola North", "Yelwa", [])),
        ("show me the trend for Lagos", ("unknown", None, "lagos", [])),
    ],
)
def test_what_a_trend_question_is_about(text: str, expected: tuple) -> None:
    assert trend_focus(text, PLACES_LGAS, PLACES_WARDS) == expected
