"""Questions after the results: thin Rasa actions over `question_answers`.

Every answer is rebuilt from the slots (`selection_in_force`) and the dataset in Redis, never
from process memory, so any replica answers any question. Before the results the analyst is
told what is missing and, inside the form, the pending question is asked again.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation import question_answers as qa
from actions.conversation.answer_matching import parse_payload
from actions.conversation.form_validation import LatestMessage
from actions.conversation.question_matching import (
    comparison_periods,
    comparison_sides,
    period_changes,
)
from actions.conversation.refinement_matching import PeriodChoice, PeriodOutside, mentions_period
from actions.conversation.refinements import file_months
from actions.conversation.submit import save_files


class QuestionAction(Action, ABC):
    """Loads the dataset, answers in a worker thread, stores the files, replies."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from actions.service.dataset_store import DatasetNotFound
        from actions.tpr import TPRDataError

        dataset_id = tracker.get_slot("dataset_id")
        if not dataset_id:
            dispatcher.utter_message(text=msg.UPLOAD_HOW_TO)
            return []
        values = cs.answers(tracker)
        if not cs.finished(values) or cs.form_active(tracker):
            dispatcher.utter_message(text=msg.missing_before_results(values))
            if cs.form_active(tracker):
                return cs.enter_form()
            dispatcher.utter_message(text=msg.RESUME_HINT)
            return []
        try:
            dataset = await ds.dataset_store().load(str(dataset_id), owner=tracker.sender_id)
        except DatasetNotFound:
            dispatcher.utter_message(
                text="Your dataset is no longer available (it may have expired). "
                "Please upload the file again."
            )
            return []
        message = LatestMessage(tracker)
        try:
            answer = await self.answer_for(
                tracker, dataset, cs.selection_in_force(tracker), message
            )
        except TPRDataError as error:
            dispatcher.utter_message(text=f"I couldn't answer that for this selection: {error}")
            return []
        await send_answer(dispatcher, tracker.sender_id, answer)
        return []

    @abstractmethod
    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        """The `question_answers.Answer`, computed off the event loop."""

    async def answer_for(
        self, tracker: Tracker, dataset: Any, values: dict[str, Any], message: LatestMessage
    ) -> Any:
        """`answer`, for the questions that also need the tracker (the file's months)."""
        return await self.answer(dataset, values, message)


async def send_answer(dispatcher: CollectingDispatcher, owner: str, answer: qa.Answer) -> None:
    """Stores the answer's files with ResultFileStore (owner-scoped tokens) and replies."""
    wanted = [f for f in (answer.table, answer.sheet, answer.chart) if f is not None]
    saved = await save_files(owner, [(f.filename, f.content_type, f.data) for f in wanted])
    links = {id(f): link for f, link in zip(wanted, saved, strict=True)}
    dispatcher.utter_message(text=answer.text, buttons=answer.buttons or None)
    if answer.chart is not None:
        dispatcher.utter_message(text="Chart:", image=links[id(answer.chart)])
    if answer.table is not None:
        sheet_link = links[id(answer.sheet)] if answer.sheet is not None else None
        dispatcher.utter_message(
            text=msg.downloads_line(answer.download_label, links[id(answer.table)], sheet_link)
        )


class ActionAskLgaWards(QuestionAction):
    def name(self) -> str:
        return "action_ask_lga_wards"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(
            qa.lga_wards, dataset, values, message.text, message.hints("lga")
        )


class ActionAskTopWards(QuestionAction):
    def name(self) -> str:
        return "action_ask_top_wards"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(
            qa.top_wards,
            dataset,
            values,
            message.text,
            message.hints("rank_direction"),
            message.hints("number"),
        )


class ActionAskNoDataWards(QuestionAction):
    def name(self) -> str:
        return "action_ask_no_data_wards"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(qa.no_data_wards, dataset, values)


class ActionAskLgaTotals(QuestionAction):
    def name(self) -> str:
        return "action_ask_lga_totals"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(qa.lga_totals, dataset, values)


class ActionAskWard(QuestionAction):
    def name(self) -> str:
        return "action_ask_ward"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(
            qa.one_ward, dataset, values, message.text, message.hints("ward"), message.hints("lga")
        )


class ActionCompareSelection(QuestionAction):
    def name(self) -> str:
        return "action_compare_selection"

    async def answer_for(
        self, tracker: Tracker, dataset: Any, values: dict[str, Any], message: LatestMessage
    ) -> Any:
        """Side B may also change the period, read against the file's own months."""
        text = "" if parse_payload(message.text) else message.text
        periods: Any = (None, None)
        if text and mentions_period(text):
            summary = await ds.load_summary_for(tracker) or {}
            periods = comparison_periods(text, await file_months(tracker, summary))
            if isinstance(periods, PeriodOutside):
                return qa.Answer(msg.file_covers_text(summary, periods.named))
        return await self.compare(dataset, values, message, *periods)

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await self.compare(dataset, values, message, None, None)

    async def compare(
        self,
        dataset: Any,
        values: dict[str, Any],
        message: LatestMessage,
        a_period: PeriodChoice | None,
        b_period: PeriodChoice | None,
    ) -> Any:
        # a button payload names its change in the entities only
        text = "" if parse_payload(message.text) else message.text
        a_changes, b_changes = comparison_sides(text, values, message.entities)
        a_changes = {**a_changes, **period_changes(a_period, values)}
        a_values = qa.with_changes(values, a_changes)
        b_changes = {**b_changes, **period_changes(b_period, a_values)}
        b_values = qa.with_changes(a_values, b_changes)
        if not b_changes:
            text = msg.compare_what_text()
            if a_changes or b_period is not None:
                text = msg.same_selection_text(qa.describe(qa.selection_of(a_values)))
            return qa.Answer(text, compare_buttons(values))
        return await asyncio.to_thread(qa.comparison, dataset, a_values, b_values)


def compare_buttons(values: dict[str, Any]) -> list[msg.Button]:
    """Comparisons worth a click from the selection in force."""
    options = [
        ("age_group", "pw", "Compare with pregnant women"),
        ("age_group", "all", "Compare with all ages"),
        ("method", "microscopy", "Compare with microscopy"),
        ("facility_level", "all", "Compare with all facilities"),
    ]
    return [
        {"title": title, "payload": msg.payload("compare_selection", **{slot: value})}
        for slot, value, title in options
        if values.get(slot) != value
    ]


class ActionAskInvalidData(QuestionAction):
    def name(self) -> str:
        return "action_ask_invalid_data"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(qa.invalid_data, dataset, values)


class ActionAskCompleteness(QuestionAction):
    def name(self) -> str:
        return "action_ask_completeness"

    async def answer(self, dataset: Any, values: dict[str, Any], message: LatestMessage) -> Any:
        return await asyncio.to_thread(qa.reporting_completeness, dataset, values)
