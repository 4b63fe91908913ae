"""`DatasetAction`: the shared opening of the actions that need the loaded dataset's summary."""

from __future__ import annotations

from abc import ABC, abstractmethod

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg


class DatasetAction(Action, ABC):
    """Loads the summary of the conversation's dataset; without one, says how to upload."""

    def no_dataset_text(self) -> str:
        """The reply when no dataset is loaded."""
        return msg.UPLOAD_HOW_TO

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        summary = await ds.load_summary_for(tracker)
        if summary is None:
            dispatcher.utter_message(text=self.no_dataset_text())
            return []
        return await self.run_with_summary(dispatcher, tracker, summary)

    @abstractmethod
    async def run_with_summary(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, summary: ds.Summary
    ) -> list[EventType]:
        """The action itself, with the dataset's summary."""
