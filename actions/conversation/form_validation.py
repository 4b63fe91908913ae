"""`validate_tpr_form` and the `action_ask_<slot>` questions of `tpr_form`.

Every answer reaches the validation as raw text (from_text mappings), is matched loosely against
the dataset's own choices, and is either turned into the canonical slot value or rejected with
the valid options. Questions that do not apply (one state in the file, no level column) are
answered here and the analyst is told why.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.answer_matching import (
    NIGERIAN_STATES,
    match_age,
    match_level,
    match_state,
    mentioned_age,
    mentioned_level,
    parse_payload,
    yes_or_no,
)
from actions.conversation.dataset_action import DatasetAction
from actions.conversation.messages import not_offered_text, small_talk_reply

__all__ = ["not_offered_text", "small_talk_reply"]  # kept importable from here

FORM_SLOTS = ("state", "confirmed", "facility_level", "age_group")
# slot -> (the dataset's choices, match an answer to a choice, the value an answer names)
_CHOICE_MATCHERS = {
    "facility_level": (ds.level_choices, match_level, mentioned_level),
    "age_group": (ds.age_choices, match_age, mentioned_age),
}
SMALL_TALK_INTENTS = {"greet", "goodbye", "chitchat", "out_of_scope"}


class LatestMessage:
    """The parts of the latest user message that validation needs."""

    def __init__(self, tracker: Tracker) -> None:
        latest = tracker.latest_message or {}
        self.text: str = str(latest.get("text") or "")
        self.intent: str | None = (latest.get("intent") or {}).get("name")
        self.entities: dict[str, list[str]] = {}
        for entity in latest.get("entities") or []:
            self.entities.setdefault(entity.get("entity"), []).append(str(entity.get("value")))
        parsed = parse_payload(self.text)
        if parsed:
            self.intent = parsed[0] or self.intent
            for key, value in parsed[1].items():
                self.entities.setdefault(key, []).insert(0, value)

    def hints(self, entity: str) -> list[str]:
        return self.entities.get(entity, [])

    def shown(self, raw: Any) -> str:
        """How to quote the answer back: payloads show their value, not `/inform{...}`."""
        text = str(raw)
        parsed = parse_payload(text)
        if parsed:
            values = list(parsed[1].values())
            return values[0] if values else parsed[0]
        return text.strip()


def single_state_of(summary: ds.Summary) -> str | None:
    names = ds.states(summary)
    return names[0] if len(names) == 1 else None


class ValidateTprForm(FormValidationAction):
    """Matches answers against the dataset, applies skips, keeps the answers consistent."""

    def name(self) -> str:
        return "validate_tpr_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        summary = await ds.load_summary_for(tracker)
        if summary is None:
            # No usable dataset: end the form; action_tpr_submit explains how to upload.
            return [SlotSet(REQUESTED_SLOT, None), ActiveLoop(None)]

        slots: dict[str, Any] = {name: tracker.get_slot(name) for name in FORM_SLOTS}
        candidates = tracker.slots_to_validate()
        message = LatestMessage(tracker)
        updates: dict[str, Any] = {}

        def put(name: str, value: Any) -> None:
            updates[name] = value
            slots[name] = value

        for name in FORM_SLOTS:
            if name not in candidates or candidates[name] is None:
                continue
            raw = candidates[name]
            if name == "state":
                self._validate_state(raw, summary, slots, message, dispatcher, put, candidates)
            elif name == "confirmed":
                self._validate_confirmed(raw, summary, slots, message, dispatcher, put)
            elif name == "facility_level":
                self._validate_level(raw, summary, slots, message, dispatcher, put)
            else:
                self._validate_age(raw, summary, slots, message, dispatcher, put)

        self._keep_consistent(summary, slots, dispatcher, put)
        self._apply_skips(summary, slots, dispatcher, put)
        return [SlotSet(name, value) for name, value in updates.items()]

    # --- one method per question -------------------------------------------------------------

    def _reject(
        self,
        dispatcher: CollectingDispatcher,
        message: LatestMessage,
        problem: str,
    ) -> None:
        """Off-topic gets a short answer; anything else gets what was wrong."""
        reply = small_talk_reply(message.intent, message.text)
        dispatcher.utter_message(text=reply if reply else problem)

    def _validate_state(self, raw, summary, slots, message, dispatcher, put, candidates) -> None:
        states = ds.states(summary)
        state = match_state(str(raw), states, message.hints("state"))
        if state:
            put("state", state)
            if "confirmed" not in candidates:
                put("confirmed", None)
            return
        put("state", None)
        self._reject(
            dispatcher,
            message,
            msg.state_not_found(message.shown(raw), states),
        )

    def _validate_confirmed(self, raw, summary, slots, message, dispatcher, put) -> None:
        if isinstance(raw, bool):
            put("confirmed", raw)
            return
        answer = yes_or_no(str(raw), message.intent)
        only = single_state_of(summary)
        if answer is True:
            put("confirmed", True)
            return
        if answer is False:
            if only:
                put("confirmed", None)
                dispatcher.utter_message(text=msg.only_state_confirm(only))
                return
            put("confirmed", False)
            put("state", None)
            dispatcher.utter_message(text=msg.CHOOSE_ANOTHER_STATE)
            return
        # Naming another state here means "this one instead".
        other = match_state(str(raw), ds.states(summary), message.hints("state"), numbered=False)
        if other and other != slots.get("state"):
            put("state", other)
            put("confirmed", None)
            return
        if other:  # naming the state being confirmed means yes
            put("confirmed", True)
            return
        put("confirmed", None)
        elsewhere = match_state(str(raw), NIGERIAN_STATES, message.hints("state"), numbered=False)
        if elsewhere:
            problem = msg.state_not_found(message.shown(raw), ds.states(summary))
        else:
            problem = msg.confirm_or_pick(slots.get("state"))
        self._reject(dispatcher, message, problem)

    def _validate_level(self, raw, summary, slots, message, dispatcher, put) -> None:
        self._validate_choice(
            "facility_level", raw, summary, slots, message, dispatcher, put, "facility levels"
        )

    def _validate_age(self, raw, summary, slots, message, dispatcher, put) -> None:
        self._validate_choice(
            "age_group", raw, summary, slots, message, dispatcher, put, "age groups"
        )

    def _validate_choice(self, slot, raw, summary, slots, message, dispatcher, put, noun) -> None:
        """Facility level or age group: an offered choice, else say why not and the options."""
        choices_of, match, mentioned = _CHOICE_MATCHERS[slot]
        state = slots.get("state")
        choices = choices_of(summary, state)
        hints = message.hints(slot)
        value = match(str(raw), choices, hints)
        if value:
            put(slot, value)
            return
        put(slot, None)
        named = mentioned(str(raw), hints)
        if named and named not in choices:
            problem = not_offered_text(slot, named, summary, state)
        else:
            problem = msg.not_a_choice(
                message.shown(raw), noun, msg.options_text(slot, summary, state)
            )
        self._reject(dispatcher, message, problem)

    # --- across questions --------------------------------------------------------------------

    def _keep_consistent(self, summary, slots, dispatcher, put) -> None:
        """Answers kept from another state must exist in the state now chosen."""
        state = slots.get("state")
        if state and state not in ds.states(summary):
            put("state", None)
            put("confirmed", None)
            return
        if not state:
            return
        level = slots.get("facility_level")
        if level and level not in ds.level_choices(summary, state):
            put("facility_level", None)
            dispatcher.utter_message(text=msg.level_gone(state, level))
        age = slots.get("age_group")
        if age and age not in ds.age_choices(summary, state):
            put("age_group", None)
            dispatcher.utter_message(text=msg.age_gone(state, age))

    def _apply_skips(self, summary, slots, dispatcher, put) -> None:
        """Answer the questions that have one possible answer, and say why."""
        only = single_state_of(summary)
        if only and slots.get("state") is None:
            put("state", only)
            if slots.get("confirmed") is False:
                put("confirmed", None)
            dispatcher.utter_message(text=msg.single_state_selected(only))
        if (
            not ds.has_levels(summary)
            and slots.get("facility_level") is None
            and slots.get("confirmed") is True
        ):
            put("facility_level", "all")
            dispatcher.utter_message(text=msg.NO_LEVEL_COLUMN_USES_ALL)


# --- questions ------------------------------------------------------------------------------


class _AskAction(DatasetAction):
    """Shared body: render the question with its buttons (the base class loads the summary)."""

    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    @abstractmethod
    def render(self, summary: ds.Summary, tracker: Tracker) -> tuple[str, list[dict[str, str]]]:
        """The question's text and buttons."""

    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        text, buttons = self.render(summary, tracker)
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionAskState(_AskAction):
    slot = "state"

    def render(self, summary, tracker):
        return msg.state_question(summary)


class ActionAskConfirmed(_AskAction):
    slot = "confirmed"

    def render(self, summary, tracker):
        from actions.conversation.refinements import refinement_summary

        return msg.confirm_question(
            summary, tracker.get_slot("state"), refinement_summary(tracker, summary)
        )


class ActionAskFacilityLevel(_AskAction):
    slot = "facility_level"

    def render(self, summary, tracker):
        return msg.level_question(summary, tracker.get_slot("state"))


class ActionAskAgeGroup(_AskAction):
    slot = "age_group"

    def render(self, summary, tracker):
        return msg.age_question(summary, tracker.get_slot("state"))
