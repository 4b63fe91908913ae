"""`action_set_refinement`: the method and the period, set at any point of the conversation.

Before the form, the change is kept for the results; inside the form it is kept and the pending
question is asked again (the form is not derailed); after the results it recalculates at once,
as `action_reselect` does for the age group. Periods resolve against the file's own months.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.dataset_action import DatasetAction
from actions.conversation.form_validation import LatestMessage
from actions.conversation.refinement_matching import (
    PeriodOutside,
    mentioned_method,
    mentions_period,
    resolve_period,
)


def _contiguous(first: int, last: int) -> list[int]:
    months, code = [], first
    while code <= last:
        months.append(code)
        code = code + 1 if code % 100 < 12 else (code // 100 + 1) * 100 + 1
    return months


async def file_months(tracker: Tracker, summary: ds.Summary) -> list[int]:
    """The month codes the file holds, sorted: the summary's `time_coverage`; for a summary
    stored before it existed, its range when that has no gap, else the stored dataset (read in
    a worker thread)."""
    listed = (summary.get("time_coverage") or {}).get("months")
    if listed:
        return sorted(int(m) for m in listed)
    period = summary.get("period") or {}
    first, last = period.get("first_code"), period.get("last_code")
    if not first or not last:
        return []
    span = _contiguous(int(first), int(last))
    if len(span) == int(period.get("months") or 0):
        return span
    dataset = await ds.dataset_store().load(
        str(tracker.get_slot("dataset_id")), owner=tracker.sender_id
    )

    def unique_months() -> list[int]:
        import numpy as np

        return [int(m) for m in np.unique(dataset.arrays.periodcode)]

    return await asyncio.get_running_loop().run_in_executor(None, unique_months)


class ActionSetRefinement(DatasetAction):
    """ "use RDT only", "2024 only", "the last 3 months", "back to the default method"..."""

    def name(self) -> str:
        return "action_set_refinement"

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        message = LatestMessage(tracker)
        current = cs.selection_in_force(tracker)
        method = None
        if message.intent == "set_method" or message.hints("method"):
            method = mentioned_method(message.text, message.hints("method"))
        period = None
        if message.intent == "set_period" or mentions_period(message.text):
            period = resolve_period(message.text, await file_months(tracker, summary))
        if method is None and period is None:
            # "change the method", "which months does it use": what is in force, the choices.
            in_force = msg.refinements_text(
                current["method"], current["period_from"], current["period_to"], summary
            )
            dispatcher.utter_message(
                text=in_force.split("\n")[0] + "\n" + msg.REFINEMENT_NOT_UNDERSTOOD,
                buttons=msg.method_buttons() if message.intent == "set_method" else [],
            )
            return self._continue(tracker, changed=False)
        if isinstance(period, PeriodOutside):
            dispatcher.utter_message(text=msg.file_covers_text(summary, period.named))
            return self._continue(tracker, changed=False)

        events: list[EventType] = []
        changed: list[str] = []
        new_method = current["method"]
        start, end = current["period_from"], current["period_to"]
        if method is not None and method != current["method"]:
            new_method = method
            events.append(SlotSet("method", method))
            changed.append("method")
        if period is not None and (period.start, period.end) != (start, end):
            start, end = period.start, period.end
            events += [SlotSet("period_start", start), SlotSet("period_end", end)]
            changed.append("period")
        text = msg.refinement_set_text(changed, new_method, start, end, summary)
        finished = cs.finished(cs.answers(tracker))
        if changed and finished and not cs.form_active(tracker):
            text += " " + msg.RECALCULATING
        elif changed and not cs.form_active(tracker) and not finished:
            text += " " + msg.REFINEMENT_BEFORE_RESULTS + msg.RESUME_HINT
        dispatcher.utter_message(text=text)
        return events + self._continue(tracker, changed=bool(changed))

    @staticmethod
    def _continue(tracker: Tracker, changed: bool) -> list[EventType]:
        """Inside the form: ask the pending question again. After the results: recalculate
        (the form finds every answer in and submits again)."""
        if cs.form_active(tracker):
            return cs.enter_form()
        if changed and cs.finished(cs.answers(tracker)):
            return cs.enter_form()
        return []


def refinement_summary(tracker: Tracker, summary: ds.Summary) -> str:
    """The method and period in force with how to change them, for the overview and status."""
    values: dict[str, Any] = cs.selection_in_force(tracker)
    return msg.refinements_text(
        values["method"], values["period_from"], values["period_to"], summary
    )
