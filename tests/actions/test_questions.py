"""Questions after the results: real trackers, the real DatasetStore/ResultFileStore in a private
Redis, the real sample workbook. Every figure is checked against `Reference`, a plain-Python
reading of the workbook's cells by the rules of tpr-method.md (not the engine's code path).
"""

from __future__ import annotations

import csv
import io
import math
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import dataset_summary
from actions.conversation.messages import QUESTIONS_MENU_LINE, count, pct
from actions.conversation.navigation import ActionContextualReply
from actions.conversation.questions import (
    ActionAskCompleteness,
    ActionAskInvalidData,
    ActionAskLgaTotals,
    ActionAskLgaWards,
    ActionAskNoDataWards,
    ActionAskTopWards,
    ActionAskWard,
    ActionCompareSelection,
)
from actions.tpr.names import clean_name, name_key
from actions.tpr.sample import indicator_headers
from tests.actions.conftest import DOMAIN, Datasets, loop_events, make_tracker, texts

DONE = {"state": "Adamawa", "confirmed": True, "facility_level": "primary", "age_group": "u5"}
AGES = ("u5", "o5", "pw")
HEADERS = indicator_headers("A")


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return float(value)


@dataclass
class WardSums:
    tested: dict[str, float] = field(default_factory=lambda: {"rdt": 0.0, "micro": 0.0})
    positive: dict[str, float] = field(default_factory=lambda: {"rdt": 0.0, "micro": 0.0})
    facilities: set[str] = field(default_factory=set)
    invalid: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def rate(self, method: str) -> float | None:
        tested = self.tested[method]
        return 100.0 * self.positive[method] / tested if tested > 0 else None

    def tpr(self, method: str = "max") -> tuple[float | None, float, float, str]:
        """(tpr, tested, positive, method) by the method rule; a tie goes to RDT."""
        rdt, mic = self.rate("rdt"), self.rate("micro")
        if method == "rdt" or (method == "max" and rdt is not None and (mic is None or mic <= rdt)):
            if rdt is None:
                return None, 0, 0, "none"
            return rdt, self.tested["rdt"], self.positive["rdt"], "rdt"
        if mic is None:
            return None, 0, 0, "none"
        return mic, self.tested["micro"], self.positive["micro"], "microscopy"


def place(lga: str, ward: str) -> tuple[str, str]:
    """A ward is (LGA, ward) by name key: the file spells `Yelwa` and `YELWA` for one ward."""
    return name_key(clean_name(lga)), name_key(clean_name(ward))


class Reference:
    """The workbook's cells summed per (LGA, ward) by hand, for one state, level, age group."""

    def __init__(self, raw: pd.DataFrame, state: str, level: str, ages: tuple[str, ...]):
        self.wards: dict[tuple[str, str], WardSums] = {}
        self.facility_months: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.reporting: dict[str, dict[str, set[tuple[str, str]]]] = defaultdict(
            lambda: {"rdt": set(), "micro": set()}
        )
        for row in raw.to_dict("records"):
            if clean_name(row["State"]) != state:
                continue
            key = place(row["LGA"], row["Ward"])
            sums = self.wards.setdefault(key, WardSums())  # every ward is listed
            if level != "all" and str(row["level"]).split()[0].casefold() != level:
                continue
            facility = name_key(clean_name(row["Health Faccility"]))
            period = str(row["periodcode"])
            sums.facilities.add(facility)
            self.facility_months[key[0]].add((facility, period))
            for method in ("rdt", "micro"):
                if any((_number(row[HEADERS[f"{method}_tested_{a}"]]) or 0) > 0 for a in AGES):
                    self.reporting[key[0]][method].add((facility, period))
                for age in ages:
                    tested = _number(row[HEADERS[f"{method}_tested_{age}"]]) or 0.0
                    positive = _number(row[HEADERS[f"{method}_positive_{age}"]])
                    if tested > 0 and (positive is None or positive <= tested):
                        sums.tested[method] += tested
                        sums.positive[method] += positive or 0.0
                    elif tested > 0 or (positive or 0) > 0:
                        rule = "positive > tested" if tested > 0 else "positive without tested"
                        name = "rdt" if method == "rdt" else "microscopy"
                        sums.invalid.append((facility, period, name, age, rule))

    def lga_sums(self, lga: str) -> WardSums:
        total = WardSums()
        for (ward_lga, _), sums in self.wards.items():
            if ward_lga == name_key(lga):
                for method in ("rdt", "micro"):
                    total.tested[method] += sums.tested[method]
                    total.positive[method] += sums.positive[method]
        return total


@pytest.fixture(scope="module")
def raw(sample_files: dict[str, Path]) -> pd.DataFrame:
    """The data sheet of the workbook (it also holds a pivot sheet), cells as written."""
    sheets = pd.read_excel(sample_files["two_states"], sheet_name=None)
    return next(frame for frame in sheets.values() if "State" in frame.columns)


def after_results(dataset_id: str, text: str, intent: str, entities: dict | None = None, **slots):
    ents = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
    return make_tracker(dataset_id, text, intent, ents, slots={**DONE, **slots}, active_loop=None)


async def download(body: str, index: int = 0) -> tuple[str, list[dict[str, str]]]:
    links = re.findall(r"/api/download/([A-Za-z0-9_-]+)", body)
    stored = await dataset_summary.result_store().load(links[index])
    return stored.filename, list(csv.DictReader(io.StringIO(stored.data.decode("utf-8-sig"))))


def close(a: str, b: float | None) -> bool:
    return (a == "" and b is None) or (a != "" and b is not None and abs(float(a) - b) < 0.006)


async def test_lga_drill_down_lists_every_ward_of_the_lga(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame
) -> None:
    tracker = after_results(datasets.two_states, "show the wards in Fufore", "ask_lga_wards",
                            {"lga": "Fufore"})  # fmt: skip
    assert await ActionAskLgaWards().run(dispatcher, tracker, DOMAIN) == []
    ref = Reference(raw, "Adamawa", "primary", ("u5",))
    body = "\n".join(texts(dispatcher))
    fufore = {w: sums for (lga, w), sums in ref.wards.items() if lga == "fufore"}
    filename, rows = await download(body)
    assert filename == "tpr_adamawa_primary_u5_max_fufore_wards.csv"
    assert sorted(place(r["lga"], r["ward"])[1] for r in rows) == sorted(fufore)
    for row in rows:
        tpr, tested, _, _ = fufore[name_key(row["ward"])].tpr()
        assert close(row["tpr"], tpr)
        ward = row["ward"]
        line = f"- {ward}: no data" if tpr is None else f"- {ward}: {pct(tpr)} of {count(tested)}"
        assert line in body
    lga_tpr, lga_tested, _, _ = ref.lga_sums("Fufore").tpr()
    assert f"Fufore total: {pct(lga_tpr)} of {count(lga_tested)} tests" in body


async def test_unknown_lga_names_the_states_lgas(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame
) -> None:
    tracker = after_results(datasets.two_states, "show me the wards in Kwkokogu", "ask_lga_wards",
                            {"lga": "Kwkokogu"})  # fmt: skip
    await ActionAskLgaWards().run(dispatcher, tracker, DOMAIN)
    lgas = sorted({lga for lga, _ in Reference(raw, "Adamawa", "primary", ("u5",)).wards})
    text = texts(dispatcher)[0]
    assert text.startswith("I couldn't find the LGA 'Kwkokogu' in Adamawa. Its LGAs are: ")
    assert sorted(name_key(n) for n in text.rsplit(": ", 1)[1].rstrip(".").split(", ")) == lgas


@pytest.mark.parametrize(("text", "direction", "n"), [("bottom 3", "bottom", 3),
                                                     ("top 2 wards", "top", 2)])  # fmt: skip
async def test_top_and_bottom_n_rank_only_wards_with_data(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame,
    text: str, direction: str, n: int,
) -> None:  # fmt: skip
    tracker = after_results(datasets.two_states, text, "ask_top_wards")
    await ActionAskTopWards().run(dispatcher, tracker, DOMAIN)
    ref = Reference(raw, "Adamawa", "primary", ("u5",))
    with_data = [(s.tpr()[0], -s.tpr()[1], lga, w) for (lga, w), s in ref.wards.items()
                 if s.tpr()[0] is not None]  # fmt: skip
    ordered = sorted(with_data, key=lambda t: (t[0] if direction == "bottom" else -t[0], t[1]))
    body = "\n".join(texts(dispatcher))
    _, rows = await download(body)
    assert [place(r["lga"], r["ward"]) for r in rows] == [(t[2], t[3]) for t in ordered[:n]]
    for rank, (row, (tpr, _, _, _)) in enumerate(zip(rows, ordered, strict=False), start=1):
        assert f"{rank}. {row['ward']} ({row['lga']}): {pct(tpr)}" in body
    assert f"{n + 1}. " not in body


async def test_wards_without_data_give_the_reason(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame
) -> None:
    tracker = after_results(datasets.two_states, "which wards have no data?", "ask_no_data_wards",
                            facility_level="tertiary")  # fmt: skip
    await ActionAskNoDataWards().run(dispatcher, tracker, DOMAIN)
    ref = Reference(raw, "Adamawa", "tertiary", ("u5",))
    blank = {(lga, w): s for (lga, w), s in ref.wards.items() if s.tpr()[0] is None}
    assert any(not s.facilities for s in blank.values()), "fixture needs a ward without tertiary"
    body = "\n".join(texts(dispatcher))
    assert f"{len(blank)} of {len(ref.wards)} wards have no data (TPR blank, not 0)." in body
    _, rows = await download(body)
    assert {place(r["lga"], r["ward"]) for r in rows} == set(blank)
    for row in rows:
        sums = blank[place(row["lga"], row["ward"])]
        reason = "no tertiary facility" if not sums.facilities else "no valid tests"
        assert row["reason"] == reason
        assert f"- {row['ward']} ({row['lga']}): {reason}" in body


async def test_lga_totals_sum_the_wards_then_apply_the_rule(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame
) -> None:
    tracker = after_results(datasets.two_states, "totals by LGA", "ask_lga_totals")
    await ActionAskLgaTotals().run(dispatcher, tracker, DOMAIN)
    ref = Reference(raw, "Adamawa", "primary", ("u5",))
    body = "\n".join(texts(dispatcher))
    _, rows = await download(body)
    state = WardSums()
    for lga in [r["lga"] for r in rows[:-1]]:
        sums = ref.lga_sums(lga)
        tpr, tested, positive, _ = sums.tpr()
        key = name_key(lga)
        with_data = sum(1 for (x, _), s in ref.wards.items() if x == key and s.tpr()[0] is not None)
        wards = sum(1 for x, _ in ref.wards if x == key)
        assert (f"- {lga}: {pct(tpr)} of {count(tested)} tests ({count(positive)} positive") in body
        assert f"tests ({count(positive)} positive, " in body
        assert f"{with_data} of {wards} wards with data" in body
        for method in ("rdt", "micro"):
            state.tested[method] += sums.tested[method]
            state.positive[method] += sums.positive[method]
    tpr, tested, positive, _ = state.tpr()
    assert len(rows) - 1 == len({lga for lga, _ in ref.wards})
    assert f"Adamawa (state total): {pct(tpr)} of {count(tested)} tests ({count(positive)}" in body
    assert rows[-1]["lga"] == "(state total)" and close(rows[-1]["tpr"], tpr)


async def test_a_shared_ward_name_asks_which_lga_then_answers(
    datasets: Datasets, raw: pd.DataFrame
) -> None:
    ref = Reference(raw, "Adamawa", "primary", ("u5",))
    assert sorted(lga for lga, w in ref.wards if w == "yelwa") == ["fufore", "yola north"]
    lgas = ["Fufore", "Yola North"]
    first = CollectingDispatcher()
    tracker = after_results(datasets.two_states, "tell me about Yelwa", "ask_ward",
                            {"ward": "Yelwa"})  # fmt: skip
    await ActionAskWard().run(first, tracker, DOMAIN)
    message = first.messages[0]
    assert message["text"] == f"Yelwa is in 2 LGAs: {', '.join(lgas)}; which one?"
    assert [b["title"] for b in message["buttons"]] == [f"Yelwa ({lga})" for lga in lgas]

    second = CollectingDispatcher()
    payload = message["buttons"][1]["payload"]
    tracker = after_results(datasets.two_states, payload, "ask_ward")
    await ActionAskWard().run(second, tracker, DOMAIN)
    sums = ref.wards[place(lgas[1], "Yelwa")]
    tpr, tested, positive, _ = sums.tpr()
    body = "\n".join(texts(second))
    assert f"Yelwa ward ({lgas[1]} LGA)" in body
    assert f"TPR: {pct(tpr)} ({count(positive)} positive of {count(tested)} tested" in body
    assert f"RDT {pct(sums.rate('rdt'))} ({count(sums.positive['rdt'])} of" in body
    assert f"Facilities: {len(sums.facilities)}" in body
    assert f"Invalid pairs excluded: {len(sums.invalid)}." in body


@pytest.mark.parametrize(
    ("text", "a", "b"),
    [
        ("compare with pregnant women", {"age": ("u5",), "method": "max"},
         {"age": ("pw",), "method": "max"}),
        ("compare RDT and microscopy", {"age": ("u5",), "method": "rdt"},
         {"age": ("u5",), "method": "micro"}),
        ("compare under 5 and all ages", {"age": ("u5",), "method": "max"},
         {"age": AGES, "method": "max"}),
    ],
)  # fmt: skip
async def test_comparison_holds_a_against_b_per_ward(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame,
    text: str, a: dict, b: dict,
) -> None:  # fmt: skip
    tracker = after_results(datasets.two_states, text, "compare_selection")
    await ActionCompareSelection().run(dispatcher, tracker, DOMAIN)
    ref_a = Reference(raw, "Adamawa", "primary", a["age"])
    ref_b = Reference(raw, "Adamawa", "primary", b["age"])
    body = "\n".join(texts(dispatcher))
    assert any(m.get("image") for m in dispatcher.messages)
    _, rows = await download(body)
    assert len(rows) == len(ref_a.wards)
    for row in rows:
        key = place(row["lga"], row["ward"])
        a_tpr = ref_a.wards[key].tpr(a["method"])[0]
        b_tpr = ref_b.wards[key].tpr(b["method"])[0]
        assert close(row["a_tpr"], a_tpr) and close(row["b_tpr"], b_tpr)
        diff = None if a_tpr is None or b_tpr is None else b_tpr - a_tpr
        assert close(row["difference"], diff)


async def test_comparison_without_a_change_asks_what_to_compare(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = after_results(datasets.two_states, "compare the two", "compare_selection")
    await ActionCompareSelection().run(dispatcher, tracker, DOMAIN)
    message = dispatcher.messages[0]
    assert message["text"].startswith("Compare with what?")
    assert "/compare_selection" in message["buttons"][0]["payload"]


def cli_compare(file: Path, out: Path, a_flags: list[str], vs: list[str]) -> list[dict]:
    """The engine CLI's own comparison (not the action's code path): A's flags, B's --vs."""
    subprocess.run(
        [sys.executable, "-m", "actions.tpr", "compare", str(file), "--state", "Adamawa",
         "--facility-level", "primary", "--age-group", "u5", *a_flags,
         *(arg for change in vs for arg in ("--vs", change)), "--out", str(out)],
        check=True, cwd=Path(__file__).resolve().parents[2], capture_output=True,
    )  # fmt: skip
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))


# The two-year file covers January 2023 to December 2024.
@pytest.mark.parametrize(
    ("text", "a_flags", "vs", "title"),
    [
        ("compare with January to June 2024", [],
         ["period-from=202401", "period-to=202406"],
         "January 2023 to December 2024 (A) vs January 2024 to June 2024 (B)"),
        ("compare 2024 with the last 3 months",
         ["--period-from", "202401", "--period-to", "202412"],
         ["period-from=202410", "period-to=202412"],
         "January 2024 to December 2024 (A) vs October 2024 to December 2024 (B)"),
        ("compare this with March to May", [],
         ["period-from=202403", "period-to=202405"],
         "January 2023 to December 2024 (A) vs March 2024 to May 2024 (B)"),
        ("compare microscopy for the last 6 months", [],
         ["method=microscopy", "period-from=202407", "period-to=202412"],
         "higher of RDT and microscopy, January 2023 to December 2024 (A) vs microscopy only, "
         "July 2024 to December 2024 (B)"),
    ],
)  # fmt: skip
async def test_comparison_can_change_the_period_as_the_engine_cli_does(
    datasets: Datasets, dispatcher: CollectingDispatcher, tmp_path: Path,
    text: str, a_flags: list[str], vs: list[str], title: str,
) -> None:  # fmt: skip
    tracker = after_results(datasets.two_years, text, "compare_selection")
    await ActionCompareSelection().run(dispatcher, tracker, DOMAIN)
    body = "\n".join(texts(dispatcher))
    assert title in body
    assert any(m.get("image") for m in dispatcher.messages)
    filename, rows = await download(body)
    expected = cli_compare(datasets.files["two_years"], tmp_path / "cli.csv", a_flags, vs)
    assert len(rows) == len(expected) > 0
    assert rows == expected
    assert any(r["difference"] not in ("", "0.0", "0") for r in rows)  # the periods differ
    b_period = "-".join(v.split("=")[1] for v in vs if v.startswith("period-"))
    assert filename.endswith(f"_compare_vs_{'microscopy_' if len(vs) == 3 else ''}{b_period}.csv")


@pytest.mark.parametrize(
    ("text", "named"),
    [("compare with January to March 2022", "January 2022 to March 2022"),
     ("compare 2025 with the last 3 months", "2025"),
     ("compare this with June to September 2026", "June 2026 to September 2026")],
)  # fmt: skip
async def test_comparison_with_a_period_outside_the_file_says_what_it_covers(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, named: str
) -> None:
    tracker = after_results(datasets.two_years, text, "compare_selection")
    assert await ActionCompareSelection().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher) == [
        f"This file covers January 2023 to December 2024, so I can't use {named}. "
        "Nothing was changed."
    ]
    assert not any(m.get("image") for m in dispatcher.messages)


async def test_comparison_with_the_period_in_force_is_the_same_selection(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = after_results(datasets.two_years, "compare with 2024", "compare_selection",
                            period_start="202401", period_end="202412")  # fmt: skip
    await ActionCompareSelection().run(dispatcher, tracker, DOMAIN)
    message = dispatcher.messages[0]
    assert message["text"].startswith("That is the selection in force already")
    assert "/api/download/" not in "\n".join(texts(dispatcher))


async def test_invalid_pairs_are_listed_with_the_rule_broken(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame
) -> None:
    tracker = after_results(datasets.two_states, "show the invalid data", "ask_invalid_data",
                            age_group="all", facility_level="all")  # fmt: skip
    await ActionAskInvalidData().run(dispatcher, tracker, DOMAIN)
    ref = Reference(raw, "Adamawa", "all", AGES)
    expected = sorted((lga, ward, *pair) for (lga, ward), s in ref.wards.items()
                      for pair in s.invalid)  # fmt: skip
    assert expected, "the sample has invalid pairs"
    body = "\n".join(texts(dispatcher))
    assert f"{len(expected)} invalid pairs were excluded in Adamawa" in body
    _, rows = await download(body)
    got = sorted((*place(r["lga"], r["ward"]), name_key(r["facility"]), r["period"], r["method"],
                  r["age_group"], r["problem"]) for r in rows)  # fmt: skip
    assert got == expected
    per_facility = [sum(1 for x in rows if x["facility"] == r["facility"]) for r in rows]
    assert per_facility == sorted(per_facility, reverse=True)


async def test_completeness_by_lga_weakest_first(
    datasets: Datasets, dispatcher: CollectingDispatcher, raw: pd.DataFrame
) -> None:
    tracker = after_results(datasets.two_states, "how complete is the reporting?",
                            "ask_completeness")  # fmt: skip
    await ActionAskCompleteness().run(dispatcher, tracker, DOMAIN)
    ref = Reference(raw, "Adamawa", "primary", AGES)
    body = "\n".join(texts(dispatcher))
    assert any(m.get("image") for m in dispatcher.messages)
    _, rows = await download(body)
    assert len(rows) == len(ref.facility_months)
    for row in rows:
        lga = name_key(row["lga"])
        months = ref.facility_months[lga]
        rdt = 100.0 * len(ref.reporting[lga]["rdt"]) / len(months)
        mic = 100.0 * len(ref.reporting[lga]["micro"]) / len(months)
        assert close(row["rdt_completeness"], rdt) and close(row["microscopy_completeness"], mic)
        line = f"- {row['lga']}: RDT {pct(rdt)}, microscopy {pct(mic)} of {count(len(months))}"
        assert line in body
    weakest = [float(r["any_completeness"]) for r in rows]
    assert weakest == sorted(weakest)


@pytest.mark.parametrize(
    "action",
    [ActionAskLgaWards, ActionAskTopWards, ActionAskNoDataWards, ActionAskLgaTotals,
     ActionAskWard, ActionCompareSelection, ActionAskInvalidData, ActionAskCompleteness],
)  # fmt: skip
async def test_before_the_results_inside_the_form_says_what_is_missing_and_asks_again(
    datasets: Datasets, dispatcher: CollectingDispatcher, action: type
) -> None:
    slots = {"state": "Adamawa", "confirmed": True}
    tracker = make_tracker(datasets.two_states, "bottom 10", "ask_top_wards", slots=slots)
    events = await action().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == [
        "I can answer that once the results are in; I still need the facility level and the "
        "age group."
    ]
    assert loop_events(events) == ["tpr_form"]


async def test_before_any_dataset_explains_the_upload(dispatcher: CollectingDispatcher) -> None:
    tracker = make_tracker(None, "totals by LGA", "ask_lga_totals", active_loop=None)
    assert await ActionAskLgaTotals().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher)[0].startswith("Please upload your NMEP health-facility workbook")


@pytest.mark.parametrize(
    ("text", "intent"),
    [("can you forecast next year", "nlu_fallback"), ("book me a flight", "out_of_scope")],
)
async def test_an_unanswerable_question_after_the_results_gets_one_line_and_buttons(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, intent: str
) -> None:
    tracker = after_results(datasets.two_states, text, intent)
    await ActionContextualReply().run(dispatcher, tracker, DOMAIN)
    assert len(dispatcher.messages) == 1
    assert dispatcher.messages[0]["text"] == QUESTIONS_MENU_LINE
    assert len(dispatcher.messages[0]["buttons"]) >= 4
