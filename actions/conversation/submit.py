"""Results: compute with the engine off the event loop, store the files, reply (spec section 5).

Also `action_reselect`: after the results, "now pregnant women" / "same for all facilities" /
"analyze Kwara" change one answer and re-run the form, which submits again at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.answer_matching import match_state, reselection
from actions.conversation.dataset_action import DatasetAction
from actions.conversation.form_validation import LatestMessage
from actions.conversation.messages import not_offered_text
from actions.service.metrics import COMPUTE_SECONDS, timed

logger = logging.getLogger(__name__)


@dataclass
class ComputedResult:
    result: Any
    text: str
    csv: bytes
    xlsx: bytes
    png: bytes


def _compute(dataset: Any, selection: dict[str, Any]) -> ComputedResult:
    """Runs in a worker thread: pandas and matplotlib must never block the event loop (the
    results text too, as it sorts the ward table)."""
    from actions.tpr import (
        Selection,
        compute_tpr,
        result_chart_png,
        result_to_csv_bytes,
        result_to_xlsx_bytes,
    )

    result = compute_tpr(dataset, Selection(**selection))
    return ComputedResult(
        result=result,
        text=msg.results_text(result),
        csv=result_to_csv_bytes(result),
        xlsx=result_to_xlsx_bytes(result),
        png=result_chart_png(result),
    )


def download_link(token: str) -> str:
    """Relative by default (served by nginx); PUBLIC_BASE_URL makes it absolute."""
    return f"{os.environ.get('PUBLIC_BASE_URL', '').rstrip('/')}/api/download/{token}"


CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


async def save_files(owner: str, files: list[tuple[str, str, bytes]]) -> list[str]:
    """Saves `(filename, content_type, bytes)` in the ResultFileStore (owner-scoped, TTL), all
    at once, and returns the download links in the order given: the one way answers store
    their downloads."""
    store = ds.result_store()
    tokens = await asyncio.gather(
        *(
            store.save(owner=owner, filename=name, content_type=content_type, data=data)
            for name, content_type, data in files
        )
    )
    return [download_link(token) for token in tokens]


async def store_downloads(owner: str, stem: str, files: dict[str, bytes]) -> list[str]:
    """`{extension: bytes}` saved as `<stem>.<extension>`; the links in the order given."""
    return await save_files(
        owner, [(f"{stem}.{ext}", CONTENT_TYPES[ext], data) for ext, data in files.items()]
    )


def file_stem(kind: str, selection: dict[str, Any], period: dict[str, Any]) -> str:
    """`tpr_adamawa_primary_u5_rdt_202402-202405`: every download names its selection, method
    and the months it covers (`period` holds the result's `first_code` / `last_code`)."""
    safe = re.sub(r"[^a-z0-9]+", "_", str(selection["state"]).casefold()).strip("_") or "state"
    first, last = period.get("first_code"), period.get("last_code")
    months = f"_{first}-{last}" if first and last else ""
    return (
        f"{kind}_{safe}_{selection['facility_level']}_{selection['age_group']}"
        f"_{selection['method']}{months}"
    )


class ActionTprSubmit(Action):
    def name(self) -> str:
        return "action_tpr_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from actions.service.dataset_store import DatasetNotFound
        from actions.tpr import TPRDataError

        dataset_id = tracker.get_slot("dataset_id")
        values = cs.answers(tracker)
        if not dataset_id:
            dispatcher.utter_message(text=msg.UPLOAD_HOW_TO)
            return []
        if not cs.finished(values):
            dispatcher.utter_message(text=msg.ANSWERS_MISSING + msg.RESUME_HINT)
            return []
        try:
            dataset = await ds.dataset_store().load(str(dataset_id), owner=tracker.sender_id)
        except DatasetNotFound:
            dispatcher.utter_message(text=msg.DATASET_EXPIRED)
            return []
        selection = cs.selection_in_force(tracker)
        dispatcher.utter_message(text=msg.CALCULATING)
        loop = asyncio.get_running_loop()
        try:
            with timed(COMPUTE_SECONDS):
                computed = await loop.run_in_executor(None, _compute, dataset, selection)
        except TPRDataError as error:
            dispatcher.utter_message(text=msg.cannot_calculate(error))
            return []
        stem = file_stem("tpr", selection, computed.result.period)
        csv_link, xlsx_link, png_link = await store_downloads(
            tracker.sender_id,
            stem,
            {"csv": computed.csv, "xlsx": computed.xlsx, "png": computed.png},
        )
        dispatcher.utter_message(text=computed.text)
        dispatcher.utter_message(text=msg.RESULT_CHART_CAPTION, image=png_link)
        dispatcher.utter_message(text=msg.downloads_text(csv_link, xlsx_link))
        if tracker.get_slot("boundaries_id"):
            from actions.conversation.maps import geojson_with_results

            await geojson_with_results(dispatcher, tracker, dataset, computed.result)
        dispatcher.utter_message(
            text=msg.AFTER_RESULTS_HINT + " " + msg.AFTER_RESULTS_MORE,
            buttons=msg.menu_buttons("top", "lga_totals", "no_data"),
        )
        return []


def names_refinement(message: LatestMessage) -> bool:
    """Whether a message names a method or a period (and so is a refinement)."""
    from actions.conversation.refinement_matching import mentioned_method, mentions_period

    return bool(
        mentioned_method(message.text, message.hints("method")) or mentions_period(message.text)
    )


class ActionReselect(DatasetAction):
    """An answer outside the form: change that answer, keep the others, re-run the form."""

    def name(self) -> str:
        return "action_reselect"

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        message = LatestMessage(tracker)
        values = cs.answers(tracker)
        states = ds.states(summary)
        text = message.text

        new: dict[str, Any] = {}
        state = match_state(text, states, message.hints("state"), numbered=False)
        if state and state != values.get("state"):
            new["state"] = state
        elif not state and message.hints("state"):
            unknown = message.hints("state")[0]
            dispatcher.utter_message(text=msg.state_not_found(unknown, states))
            return []
        new.update(reselection(text, message.entities))
        if not new and not state:
            if names_refinement(message):
                # "now for 2024 only", "same with microscopy": a refinement worded as a
                # re-selection.
                from actions.conversation.refinements import ActionSetRefinement

                return await ActionSetRefinement().run_with_summary(dispatcher, tracker, summary)
            if cs.finished(values):
                dispatcher.utter_message(text=msg.QUESTIONS_MENU_LINE, buttons=msg.menu_buttons())
                return []
            dispatcher.utter_message(text=msg.NOT_SURE_WHICH_ANSWER + msg.RESUME_HINT)
            return []

        events: list[EventType] = [SlotSet(name, value) for name, value in new.items()]
        if "state" in new:
            # A new state after the results keeps the confirmation (spec: change and
            # recompute); before the results the overview is shown and confirmed first.
            events.append(SlotSet("confirmed", True if cs.finished(values) else None))
        new_state = new.get("state") or values.get("state")
        for slot, choices_of in (
            ("facility_level", ds.level_choices),
            ("age_group", ds.age_choices),
        ):
            value = new.get(slot)
            if value and value not in choices_of(summary, new_state):
                events = [e for e in events if e.get("name") != slot]
                dispatcher.utter_message(text=not_offered_text(slot, value, summary, new_state))
                if not events:
                    return []
        return events + cs.enter_form()
