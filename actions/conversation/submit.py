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
from actions.conversation.form_validation import LatestMessage, not_offered_text

logger = logging.getLogger(__name__)


@dataclass
class ComputedResult:
    result: Any
    text: str
    csv: bytes
    xlsx: bytes
    png: bytes


def _compute(dataset: Any, state: str, level: str, age: str) -> ComputedResult:
    """Runs in a worker thread: pandas and matplotlib must never block the event loop (the
    results text too, as it sorts the ward table)."""
    from actions.tpr import (
        Selection,
        compute_tpr,
        result_chart_png,
        result_to_csv_bytes,
        result_to_xlsx_bytes,
    )

    result = compute_tpr(dataset, Selection(state=state, facility_level=level, age_group=age))
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


def _file_stem(state: str, level: str, age: str) -> str:
    safe = re.sub(r"[^a-z0-9]+", "_", state.casefold()).strip("_") or "state"
    return f"tpr_{safe}_{level}_{age}"


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
            dispatcher.utter_message(text="Some answers are missing. " + msg.RESUME_HINT)
            return []
        try:
            dataset = await ds.dataset_store().load(str(dataset_id), owner=tracker.sender_id)
        except DatasetNotFound:
            dispatcher.utter_message(
                text="Your dataset is no longer available (it may have expired). "
                "Please upload the file again."
            )
            return []
        state, level, age = values["state"], values["facility_level"], values["age_group"]
        dispatcher.utter_message(text="Calculating...")
        loop = asyncio.get_running_loop()
        try:
            computed = await loop.run_in_executor(None, _compute, dataset, state, level, age)
        except TPRDataError as error:
            dispatcher.utter_message(text=f"I couldn't calculate this selection: {error}")
            return []
        files = ds.result_store()
        stem = _file_stem(state, level, age)
        owner = tracker.sender_id
        csv_token, xlsx_token, png_token = await asyncio.gather(
            files.save(
                owner=owner, filename=f"{stem}.csv", content_type="text/csv", data=computed.csv
            ),  # fmt: skip
            files.save(
                owner=owner,
                filename=f"{stem}.xlsx",
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                data=computed.xlsx,
            ),
            files.save(
                owner=owner, filename=f"{stem}.png", content_type="image/png", data=computed.png
            ),  # fmt: skip
        )
        dispatcher.utter_message(text=computed.text)
        dispatcher.utter_message(text="Ward TPR chart:", image=download_link(png_token))
        dispatcher.utter_message(
            text=msg.downloads_text(download_link(csv_token), download_link(xlsx_token))
        )
        dispatcher.utter_message(
            text=msg.AFTER_RESULTS_HINT, buttons=msg.menu_buttons("top", "lga_totals", "no_data")
        )
        return []


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
            dispatcher.utter_message(
                text=f"I couldn't find '{unknown}' in this file. "
                f"The states in it are: {', '.join(states)}."
            )
            return []
        new.update(reselection(text, message.entities))
        if not new and not state:
            if cs.finished(values):
                dispatcher.utter_message(text=msg.QUESTIONS_MENU_LINE, buttons=msg.menu_buttons())
                return []
            dispatcher.utter_message(
                text="I'm not sure which answer that changes. " + msg.RESUME_HINT
            )
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
