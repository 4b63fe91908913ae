"""Navigation anywhere in the conversation: back, change <answer>, status, help, cancel, restart,
start TPR, and short contextual answers to small talk outside the form.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.answer_matching import match_age, match_level, match_state
from actions.conversation.dataset_action import DatasetAction
from actions.conversation.form_validation import FORM_SLOTS, LatestMessage
from actions.conversation.messages import small_talk_reply

CHANGEABLE = ("state", "facility_level", "age_group")
_SLOT_WORDS = [
    ("age_group", re.compile(r"\bage", re.IGNORECASE)),
    ("facility_level", re.compile(r"\b(level|facilit|type)", re.IGNORECASE)),
    ("state", re.compile(r"\bstate", re.IGNORECASE)),
]


def next_step_hint(tracker: Tracker, has_dataset: bool) -> str:
    """What the analyst can do now, outside the form."""
    if not has_dataset:
        return msg.UPLOAD_HOW_TO
    if cs.finished(cs.answers(tracker)):
        return msg.AFTER_RESULTS_HINT
    return msg.START_HINT


class ActionStartTpr(DatasetAction):
    """ "start TPR": start (or resume) the form when a dataset is loaded; else explain upload."""

    def name(self) -> str:
        return "action_start_tpr"

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        events: list[EventType] = []
        values = cs.answers(tracker)
        if cs.finished(values) or not any(v is not None for v in values.values()):
            dispatcher.utter_message(text=msg.STARTING)
            events += cs.clear_answers()
        elif not cs.form_active(tracker):
            dispatcher.utter_message(text=msg.CONTINUING)
        return events + cs.enter_form()


class ActionGoBack(DatasetAction):
    """Back: clear the answer before the pending question and ask it again."""

    def name(self) -> str:
        return "action_go_back"

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        values = cs.answers(tracker)
        skipped = cs.skipped_questions(summary)
        pending = cs.pending_question(tracker)
        if pending is None and not cs.finished(values):
            if not any(v is not None for v in values.values()):
                dispatcher.utter_message(text=msg.NO_EARLIER_QUESTION + msg.RESUME_HINT)
                return []
            pending = next((s for s in FORM_SLOTS if values.get(s) in (None, False)), None)
        order = list(FORM_SLOTS)
        position = order.index(pending) if pending in order else len(order)
        # the answered, askable question just before the pending one
        target = next(
            (
                s
                for s in reversed(order[:position])
                if s not in skipped and values.get(s) is not None
            ),
            None,
        )
        if target is None:
            dispatcher.utter_message(text=msg.FIRST_QUESTION)
            return cs.enter_form()
        events: list[EventType] = [SlotSet(target, None)]
        if target == "state":
            events.append(SlotSet("confirmed", None))
        dispatcher.utter_message(text=f"OK, back to {msg.QUESTION_NAMES[target]}.")
        return events + cs.enter_form()


class ActionChangeSlot(DatasetAction):
    """ "change the age group", "change state to Kwara": jump there, keep the other answers."""

    def name(self) -> str:
        return "action_change_slot"

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        message = LatestMessage(tracker)
        slot = self._which_slot(message)
        if slot is None:
            dispatcher.utter_message(
                text=msg.WHICH_ANSWER,
                buttons=[
                    {
                        "title": msg.QUESTION_NAMES[s].replace("the ", "").capitalize(),
                        "payload": msg.payload("change_slot", slot_name=s),
                    }
                    for s in CHANGEABLE
                ],
            )
            # Inside the form, ask the pending question again: a rejected form would not
            # take the next answer otherwise.
            return cs.enter_form() if cs.form_active(tracker) else []
        if slot in cs.skipped_questions(summary):
            dispatcher.utter_message(text=cs.skip_reason(slot, summary))
            return cs.enter_form() if self._form_has_work(tracker) else []
        value = self._new_value(slot, message, summary, tracker)
        events: list[EventType] = [SlotSet(slot, value)]
        if slot == "state":
            events.append(SlotSet("confirmed", None))
        if value is None:
            dispatcher.utter_message(text=f"OK, let's change {msg.QUESTION_NAMES[slot]}.")
        return events + cs.enter_form()

    @staticmethod
    def _form_has_work(tracker: Tracker) -> bool:
        return cs.form_active(tracker) or not cs.finished(cs.answers(tracker))

    @staticmethod
    def _which_slot(message: LatestMessage) -> str | None:
        for hint in message.hints("slot_name"):
            if hint in CHANGEABLE:
                return hint
            for slot, pattern in _SLOT_WORDS:
                if pattern.search(hint):
                    return slot
        for slot, pattern in _SLOT_WORDS:
            if pattern.search(message.text):
                return slot
        for slot in CHANGEABLE:
            if message.hints(slot):
                return slot
        return None

    @staticmethod
    def _new_value(slot: str, message: LatestMessage, summary: ds.Summary, tracker: Tracker) -> Any:
        """A value given in the same message ("change state to Kwara"), else None (ask)."""
        hints = message.hints(slot)
        if not hints:
            return None
        state = tracker.get_slot("state")
        if slot == "state":
            return match_state("", ds.states(summary), hints, numbered=False)
        if slot == "facility_level":
            return match_level("", ds.level_choices(summary, state), hints)
        return match_age("", ds.age_choices(summary, state), hints)


class ActionStatus(DatasetAction):
    """Status / where am I: the answers so far and the pending question."""

    def name(self) -> str:
        return "action_status"

    def no_dataset_text(self) -> str:
        return msg.NO_DATASET_YET + msg.UPLOAD_HOW_TO

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        values = cs.answers(tracker)
        pending = cs.pending_question(tracker)
        source = summary.get("source") or "your file"
        from actions.conversation.refinements import refinement_summary

        refinements = refinement_summary(tracker, summary)
        dispatcher.utter_message(
            text=msg.dataset_line(source)
            + msg.status_text(values, pending, cs.finished(values), refinements)
        )
        return cs.enter_form() if pending else []


class ActionHelp(DatasetAction):
    """Help: explain the pending question and its options, then ask it again."""

    def name(self) -> str:
        return "action_help"

    def no_dataset_text(self) -> str:
        return msg.HELP_NO_DATASET + msg.UPLOAD_HOW_TO

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        pending = cs.pending_question(tracker)
        if pending:
            state = tracker.get_slot("state")
            options = msg.options_text(pending, summary, state)
            dispatcher.utter_message(
                text=f"{msg.HELP_TEXT.get(pending, '')} Options: {options}.\n{msg.NAVIGATION_HELP}"
            )
            return cs.enter_form()
        dispatcher.utter_message(
            text=msg.HELP_GENERAL + next_step_hint(tracker, True) + " " + msg.NAVIGATION_HELP
        )
        return []


class ActionCancel(Action):
    """Cancel / stop: leave the form, keep the dataset and the answers, say how to resume."""

    def name(self) -> str:
        return "action_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        has_dataset = bool(tracker.get_slot("dataset_id"))
        if not cs.form_active(tracker):
            text = msg.NOTHING_RUNNING + next_step_hint(tracker, has_dataset)
            dispatcher.utter_message(text=text)
            return []
        dispatcher.utter_message(
            text=msg.STOPPED + msg.RESUME_HINT,
        )
        return cs.leave_form()


class ActionRestartAnalysis(Action):
    """Restart: clear the answers and start again on the same dataset."""

    def name(self) -> str:
        return "action_restart_analysis"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        summary = await ds.load_summary_for(tracker)
        if summary is None:
            dispatcher.utter_message(text=msg.UPLOAD_HOW_TO)
            return cs.clear_answers()
        dispatcher.utter_message(text=msg.starting_again(summary.get("source")))
        return cs.clear_answers() + cs.enter_form()


class ActionContextualReply(Action):
    """Small talk and unclear messages outside the form (also RulePolicy's core fallback).

    Answers briefly and says what the analyst can do next; if a question is pending (the
    fallback fired inside the form), asks it again instead of a generic fallback.
    """

    def name(self) -> str:
        return "action_contextual_reply"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = LatestMessage(tracker)
        reply = small_talk_reply(message.intent, message.text)
        if reply is None and message.intent == "greet":
            reply = msg.HELLO
        has_dataset = bool(tracker.get_slot("dataset_id"))
        if cs.pending_question(tracker):
            dispatcher.utter_message(text=reply or msg.FINISH_QUESTION_FIRST)
            return cs.enter_form()
        if message.intent == "goodbye":
            dispatcher.utter_message(text=reply or msg.GOODBYE)
            return []
        unanswerable = reply is None or message.intent in ("out_of_scope", "nlu_fallback")
        if unanswerable and cs.finished(cs.answers(tracker)) and has_dataset:
            # after the results: one line of what the bot can answer, with buttons
            dispatcher.utter_message(text=msg.QUESTIONS_MENU_LINE, buttons=msg.menu_buttons())
            return []
        if reply is None:
            reply = msg.OK if message.intent in ("affirm", "deny") else msg.NOT_UNDERSTOOD
        intro = ""
        if message.intent == "greet" and not has_dataset:
            intro = msg.GREET_INTRO
        dispatcher.utter_message(text=reply + intro + " " + next_step_hint(tracker, has_dataset))
        return []
