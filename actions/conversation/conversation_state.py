"""Where the conversation stands: answers so far, the pending question, how to re-enter the form.

Navigation actions end by returning `ActiveLoop("tpr_form")` when a question should be asked
next; RulePolicy's loop happy path then runs the form, which asks the first missing answer.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.forms import REQUESTED_SLOT

from actions.conversation import dataset_summary as ds
from actions.conversation.form_validation import FORM_SLOTS, single_state_of

FORM_NAME = "tpr_form"


def answers(tracker: Tracker) -> dict[str, Any]:
    return {name: tracker.get_slot(name) for name in FORM_SLOTS}


def form_active(tracker: Tracker) -> bool:
    return (tracker.active_loop or {}).get("name") == FORM_NAME


def pending_question(tracker: Tracker) -> str | None:
    """The question waiting for an answer, if the form is running."""
    if not form_active(tracker):
        return None
    requested = tracker.get_slot(REQUESTED_SLOT)
    if requested:
        return str(requested)
    return next((s for s, v in answers(tracker).items() if v is None or v is False), None)


def finished(values: dict[str, Any]) -> bool:
    """Every answer in: the results for this selection have been (or will be) shown."""
    return all(values.get(s) is not None for s in FORM_SLOTS) and values.get("confirmed") is True


REFINEMENT_SLOTS = ("method", "period_start", "period_end")
DEFAULT_METHOD = "max"


def selection_in_force(tracker: Tracker) -> dict[str, Any]:
    """The selection every answer uses: the form's answers plus the refinements, defaulted.

    Keys are the engine's `Selection` fields (`state`, `facility_level`, `age_group`, `method`,
    `period_from`, `period_to`); the periods are `YYYYMM` text or None (the file's range).
    Built from slots only, so any replica answers the same.
    """
    return {
        "state": tracker.get_slot("state"),
        "facility_level": tracker.get_slot("facility_level") or "all",
        "age_group": tracker.get_slot("age_group") or "all",
        "method": tracker.get_slot("method") or DEFAULT_METHOD,
        "period_from": tracker.get_slot("period_start") or None,
        "period_to": tracker.get_slot("period_end") or None,
    }


def clear_answers() -> list[EventType]:
    return [SlotSet(name, None) for name in FORM_SLOTS]


def enter_form() -> list[EventType]:
    """Run the form next: it validates what is there and asks the first missing answer."""
    return [ActiveLoop(FORM_NAME)]


def leave_form() -> list[EventType]:
    return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]


def skipped_questions(summary: ds.Summary) -> set[str]:
    """Questions the bot answers itself for this file."""
    skipped = set()
    if single_state_of(summary):
        skipped.add("state")
    if not ds.has_levels(summary):
        skipped.add("facility_level")
    return skipped


def skip_reason(slot: str, summary: ds.Summary) -> str:
    from actions.conversation import messages as msg

    return msg.skip_reason_text(slot, single_state_of(summary))
