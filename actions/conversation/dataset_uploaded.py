"""`/dataset_uploaded{"dataset_id": ...}`: check ownership, summarise the file, start the form."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.form_validation import LatestMessage

logger = logging.getLogger(__name__)

# Same words for a missing id and for someone else's: the reply must not reveal which.
NOT_AVAILABLE = "I can't open that dataset. Please upload the file again."


class ActionDatasetUploaded(Action):
    def name(self) -> str:
        return "action_dataset_uploaded"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from actions.service.dataset_store import DatasetNotFound

        ids = LatestMessage(tracker).hints("dataset_id")
        dataset_id = ids[0].strip() if ids else ""
        if not dataset_id:
            dispatcher.utter_message(text="I didn't receive a dataset id. " + msg.UPLOAD_HOW_TO)
            return []
        try:
            summary = await ds.dataset_store().load_summary(dataset_id, owner=tracker.sender_id)
        except DatasetNotFound:
            dispatcher.utter_message(text=NOT_AVAILABLE)
            # A form in progress on the current dataset goes on with its pending question.
            return cs.enter_form() if cs.form_active(tracker) else []
        dispatcher.utter_message(text=msg.dataset_summary_text(summary))
        if tracker.get_slot("boundaries_id"):
            from actions.conversation.maps import report_match_for_new_dataset

            await report_match_for_new_dataset(dispatcher, tracker, dataset_id)
        return [SlotSet("dataset_id", dataset_id), *cs.clear_answers(), *cs.enter_form()]
