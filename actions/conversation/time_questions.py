"""Time questions: the monthly trend, year by year, and the wards that got worse.

Each answer uses the selection in force (`conversation_state.selection_in_force`) and the
dataset in Redis, so any replica answers; the engine work (`actions.tpr.series`) and the chart
run in a worker thread. Downloads go through the ResultFileStore, as the results do.
"""

from __future__ import annotations

import asyncio
import re
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.dataset_action import DatasetAction
from actions.conversation.form_validation import LatestMessage, single_state_of
from actions.conversation.question_matching import match_places
from actions.conversation.refinement_matching import years_named
from actions.conversation.submit import file_stem, store_downloads


@dataclass
class TimeAnswer:
    """What a time question replies: text messages, optional buttons, files to store."""

    texts: list[str] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    stem: str = ""
    downloads_text: Any = None  # (csv_link, xlsx_link) -> str


def time_selection(tracker: Tracker, summary: ds.Summary) -> dict[str, Any] | None:
    """The selection in force, with the file's only state when none is chosen yet."""
    selection = cs.selection_in_force(tracker)
    if not selection["state"]:
        selection["state"] = single_state_of(summary)
    return selection if selection["state"] else None


class TimeAction(DatasetAction):
    """Shared body: selection, dataset, the answer computed off the event loop, the files."""

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        from actions.service.dataset_store import DatasetNotFound
        from actions.tpr import TPRDataError

        resume = cs.enter_form() if cs.form_active(tracker) else []
        selection = time_selection(tracker, summary)
        if selection is None:
            dispatcher.utter_message(text=msg.TIME_NEEDS_STATE)
            return resume
        try:
            dataset = await ds.dataset_store().load(
                str(tracker.get_slot("dataset_id")), owner=tracker.sender_id
            )
        except DatasetNotFound:
            dispatcher.utter_message(text=msg.UPLOAD_HOW_TO)
            return []
        message = LatestMessage(tracker)
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, self.answer, dataset, selection, message.text)
        except TPRDataError as error:
            dispatcher.utter_message(text=msg.cannot_answer(error))
            return resume
        for number, text in enumerate(answer.texts):
            last = number == len(answer.texts) - 1
            dispatcher.utter_message(text=text, buttons=answer.buttons if last else [])
        if answer.files:
            links = await store_downloads(tracker.sender_id, answer.stem, answer.files)
            by_ext = dict(zip(answer.files, links, strict=True))
            if "png" in by_ext:
                dispatcher.utter_message(text=msg.TIME_CHART_CAPTION, image=by_ext["png"])
            dispatcher.utter_message(text=answer.downloads_text(by_ext["csv"], by_ext["xlsx"]))
        return resume

    @abstractmethod
    def answer(self, dataset: Any, selection: dict[str, Any], text: str) -> TimeAnswer:
        """The reply, computed in a worker thread."""


# --- the monthly trend -------------------------------------------------------------------------


def _name_key(text: str) -> str:
    from actions.tpr.names import clean_name, name_key

    return name_key(clean_name(text))


def _places(dataset: Any, state: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The state's LGAs and (LGA, ward) pairs, from the dataset's ward arrays."""
    import numpy as np

    from actions.tpr.calc import resolve_state

    arrays = dataset.arrays
    start, end = arrays.state_bounds[resolve_state(dataset, state)]
    ids = np.unique(arrays.ward_id[start:end])
    wards = [(str(arrays.ward_lga[i]), str(arrays.ward_name[i])) for i in ids]
    return sorted({lga for lga, _ in wards}), wards


# Words in "trend of TPR for ..." that are not a place.
_NOT_A_PLACE = re.compile(
    r"\b(please|pls|only|the|trend|trends|monthly|tpr|positivity|malaria|test|rate|over time|"
    r"by month|per month|each month|month by month|months?|data|series|chart|(?:19|20)\d{2})\b"
)


def trend_focus(
    text: str, lgas: list[str], wards: list[tuple[str, str]]
) -> tuple[str, str | None, str | None, list[str]]:
    """What "trend for X" names: ("state"|"lga"|"ward"|"ambiguous"|"unknown", lga, ward,
    the LGAs of an ambiguous ward name). `for Bille ward`, `for Yelwa ward in Fufore`,
    `in Fufore LGA`."""
    lowered = text.casefold()
    found = re.search(r"\bfor\s+(.+)$", lowered) or re.search(r"\b(?:in|of)\s+(.+)$", lowered)
    if not found:
        return "state", None, None, []
    place = re.sub(r"[?.!]+$", "", found.group(1)).strip()
    place = " ".join(_NOT_A_PLACE.sub(" ", place).split())
    lga_part = None
    inside = re.match(r"(.+?)\s+ward\s+(?:in|of)\s+(.+)$", place)
    if inside:
        place, lga_part = inside.group(1), re.sub(r"\s+lga$", "", inside.group(2).strip())
    says_ward = bool(re.search(r"\bward$", place)) or bool(inside)
    place = re.sub(r"\s+(ward|lga|local government( area)?)$", "", place).strip()
    if not place or place in ("state", "whole state", "all", "all lgas", "the state"):
        return "state", None, None, []
    key = _name_key(place)
    lga_by_key = {_name_key(lga): lga for lga in lgas}
    if not says_ward and key in lga_by_key:
        return "lga", lga_by_key[key], None, []
    matches = [(lga, ward) for lga, ward in wards if _name_key(ward) == key]
    if lga_part:
        matches = [m for m in matches if _name_key(m[0]) == _name_key(lga_part)]
    if not matches and not lga_part:
        # a misspelling: one clear winner among the LGAs (unless "ward" was said), then wards
        close_lgas = [] if says_ward else match_places(place, [], lgas)
        if len(close_lgas) == 1:
            return "lga", close_lgas[0], None, []
        close_wards = match_places(place, [], sorted({ward for _, ward in wards}))
        if len(set(close_wards)) == 1:
            matches = [(lga, ward) for lga, ward in wards if ward == close_wards[0]]
    if len(matches) == 1:
        return "ward", matches[0][0], matches[0][1], []
    if len(matches) > 1:
        return "ambiguous", None, matches[0][1], sorted(lga for lga, _ in matches)
    return "unknown", None, place, []


class ActionTrend(TimeAction):
    """ "show the monthly trend" (optionally "for Fufore", "for Bille ward")."""

    def name(self) -> str:
        return "action_trend"

    def answer(self, dataset: Any, selection: dict[str, Any], text: str) -> TimeAnswer:
        import pandas as pd

        from actions.tpr import Selection, trend, trend_chart_png
        from actions.tpr.export import table_csv_bytes, tables_xlsx_bytes

        chosen = Selection(**selection)
        state_series = trend(dataset, chosen, by="month", unit="state")
        lga_series = trend(dataset, chosen, by="month", unit="lga")
        ward_series = trend(dataset, chosen, by="month", unit="ward")
        state = str(state_series["state"].iloc[0])
        lgas, wards = _places(dataset, state)
        kind, lga, ward, shared = trend_focus(text, lgas, wards)
        answer = TimeAnswer()
        if kind == "ambiguous":
            question, buttons = msg.trend_ambiguous_ward(str(ward), shared)
            return TimeAnswer(texts=[question], buttons=buttons)
        if kind == "unknown":
            answer.texts.append(msg.trend_unknown_place(str(ward), state))
        if kind == "lga":
            focus_series = lga_series[lga_series["lga"] == lga]
            lines = focus_series
            table = pd.concat([focus_series, ward_series[ward_series["lga"] == lga]])
            focus = f"{lga} LGA"
        elif kind == "ward":
            focus_series = ward_series[(ward_series["lga"] == lga) & (ward_series["ward"] == ward)]
            lines = focus_series.assign(lga=f"{ward} ward ({lga})")
            table = focus_series
            focus = f"{ward} ward ({lga} LGA)"
        else:
            focus_series, lines = state_series, lga_series
            table = pd.concat([state_series, lga_series, ward_series])
            focus = f"{state} (state)"
        focus_series.attrs = dict(state_series.attrs)
        answer.texts.append(msg.trend_text(focus, focus_series))
        answer.files = {
            "png": trend_chart_png(state_series, lines, top_lgas=5),
            "csv": table_csv_bytes(table.reset_index(drop=True)),
            "xlsx": tables_xlsx_bytes(
                {
                    "state by month": state_series,
                    "LGAs by month": lga_series,
                    "wards by month": ward_series,
                }  # fmt: skip
            ),
        }
        place = "" if kind in ("state", "unknown") else "_" + _name_key(focus).replace(" ", "_")
        answer.stem = file_stem("trend", selection, _period_codes(state_series)) + place
        answer.downloads_text = msg.trend_downloads_text
        return answer


def _period_codes(series: Any) -> dict[str, str]:
    periods = list(series["period"])
    return {"first_code": periods[0], "last_code": periods[-1]} if periods else {}


# --- years -------------------------------------------------------------------------------------


def _two_years(text: str, covered: list[int]) -> tuple[int, int] | list[int]:
    """The two years to compare: the ones named, else the last two of the file. A list is the
    years named that the file does not cover."""
    named = years_named(text)
    missing = [y for y in named if y not in covered]
    if missing:
        return missing
    if len(named) >= 2:
        return named[0], named[1]
    if len(named) == 1:
        others = [y for y in covered if y != named[0]]
        earlier = [y for y in others if y < named[0]]
        other = earlier[-1] if earlier else others[0]
        return min(other, named[0]), max(other, named[0])
    return covered[-2], covered[-1]


class _YearAction(TimeAction):
    def answer(self, dataset: Any, selection: dict[str, Any], text: str) -> TimeAnswer:
        from actions.tpr import Selection, years_covered

        covered = years_covered(dataset, selection["state"])
        if len(covered) < 2:
            months = len({int(m) for m in dataset.arrays.periodcode if int(m) // 100 in covered})
            return TimeAnswer(texts=[msg.one_year_text(covered, months)])
        years = _two_years(text, covered)
        if isinstance(years, list):
            return TimeAnswer(texts=[msg.years_not_in_file_text(years, covered)])
        return self.years_answer(dataset, Selection(**selection), selection, text, *years)

    @abstractmethod
    def years_answer(self, dataset, chosen, selection, text, year_a, year_b) -> TimeAnswer:
        """The reply for two years of the file, in a worker thread."""

    @staticmethod
    def _files(dataset, chosen, selection, yoy, state_years, lga_years) -> dict[str, bytes]:
        from actions.tpr import year_on_year_chart_png
        from actions.tpr.export import table_csv_bytes, tables_xlsx_bytes

        return {
            "png": year_on_year_chart_png(yoy),
            "csv": table_csv_bytes(yoy.wards),
            "xlsx": tables_xlsx_bytes(
                {
                    f"wards {yoy.year_a} vs {yoy.year_b}": yoy.wards,
                    "state by year": state_years,
                    "LGAs by year": lga_years,
                }
            ),
        }


def _whole_years(chosen: Any) -> Any:
    from dataclasses import replace

    return replace(chosen, period_from=None, period_to=None)


class ActionYearByYear(_YearAction):
    """ "year by year", "compare 2023 and 2024": the per-year table and the change."""

    def name(self) -> str:
        return "action_year_by_year"

    def years_answer(self, dataset, chosen, selection, text, year_a, year_b) -> TimeAnswer:
        from actions.tpr import trend, year_on_year

        whole = _whole_years(chosen)
        state_years = trend(dataset, whole, by="year", unit="state")
        lga_years = trend(dataset, whole, by="year", unit="lga")
        yoy = year_on_year(dataset, whole, year_a, year_b)
        noted = bool(selection["period_from"] or selection["period_to"])
        return TimeAnswer(
            texts=[msg.year_by_year_text(state_years, lga_years, yoy, noted)],
            files=self._files(dataset, chosen, selection, yoy, state_years, lga_years),
            stem=file_stem("years", selection, {}) + f"_{yoy.year_a}-{yoy.year_b}",
            downloads_text=msg.year_downloads_text,
        )


class ActionWorsenedWards(_YearAction):
    """ "which wards got worse?": the worsened wards, the not comparable ones and why."""

    def name(self) -> str:
        return "action_worsened_wards"

    def years_answer(self, dataset, chosen, selection, text, year_a, year_b) -> TimeAnswer:
        from actions.tpr import trend, year_on_year

        whole = _whole_years(chosen)
        yoy = year_on_year(dataset, whole, year_a, year_b)
        state_years = trend(dataset, whole, by="year", unit="state")
        lga_years = trend(dataset, whole, by="year", unit="lga")
        improved = re.search(r"improv|better|decreas|fell|fall|drop|down", text.casefold())
        return TimeAnswer(
            texts=[msg.worsened_text(yoy, "improved" if improved else "worsened")],
            files=self._files(dataset, chosen, selection, yoy, state_years, lga_years),
            stem=file_stem("worsened", selection, {}) + f"_{yoy.year_a}-{yoy.year_b}",
            downloads_text=msg.year_downloads_text,
        )
