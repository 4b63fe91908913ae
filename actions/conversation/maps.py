"""Maps in the conversation (conversation.md "Maps"): the boundary upload's match report,
`show the map`, `map the missing data`, and the GeoJSON offered with the results.

Datasets and boundaries come from Redis (any replica, any action server instance); matching,
drawing and encoding run in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_state as cs
from actions.conversation import dataset_summary as ds
from actions.conversation import messages as msg
from actions.conversation.form_validation import LatestMessage

logger = logging.getLogger(__name__)

GEOJSON_TYPE = "application/geo+json"
_boundary_store: Any = None


def boundary_store() -> Any:
    """One BoundaryStore per process (it caches decoded boundaries, checked against Redis)."""
    global _boundary_store
    if _boundary_store is None:
        from actions.service.dataset_store import BoundaryStore

        _boundary_store = BoundaryStore.from_env()
    return _boundary_store


def reset_boundary_store() -> None:
    global _boundary_store
    _boundary_store = None


def _download_link(token: str) -> str:
    from actions.conversation.submit import download_link

    return download_link(token)


def _stem(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).casefold()).strip("_") or "map"


async def _load_boundaries(tracker: Tracker) -> Any:
    """The sender's boundaries, or None when there are none (never set, expired, foreign)."""
    from actions.service.dataset_store import DatasetNotFound

    boundaries_id = tracker.get_slot("boundaries_id")
    if not boundaries_id:
        return None
    try:
        return await boundary_store().load(str(boundaries_id), owner=tracker.sender_id)
    except DatasetNotFound:
        return None


async def _load_dataset(tracker: Tracker) -> Any:
    from actions.service.dataset_store import DatasetNotFound

    dataset_id = tracker.get_slot("dataset_id")
    if not dataset_id:
        return None
    try:
        return await ds.dataset_store().load(str(dataset_id), owner=tracker.sender_id)
    except DatasetNotFound:
        return None


def _match(dataset: Any, boundaries: Any, state: str | None = None) -> Any:
    from actions.tpr.ward_match import data_wards_of, match_wards

    return match_wards(data_wards_of(dataset, state), boundaries.wards)


async def save_file(tracker: Tracker, filename: str, content_type: str, data: bytes) -> str:
    token = await ds.result_store().save(
        owner=tracker.sender_id, filename=filename, content_type=content_type, data=data
    )
    return _download_link(token)


async def report_match(
    dispatcher: CollectingDispatcher, tracker: Tracker, dataset: Any, boundaries: Any
) -> None:
    """The match report of the whole dataset against the boundaries, with its CSV."""

    def work() -> tuple[str, bytes]:
        report = _match(dataset, boundaries)
        text = msg.match_report_text(report, list(dataset.states))
        csv = report.to_frame().to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
        return text, csv

    text, csv = await asyncio.get_running_loop().run_in_executor(None, work)
    link = await save_file(tracker, "ward_match_report.csv", "text/csv", csv)
    dispatcher.utter_message(text=text)
    dispatcher.utter_message(text=msg.match_download_text(link))


async def report_match_for_new_dataset(
    dispatcher: CollectingDispatcher, tracker: Tracker, dataset_id: str
) -> None:
    """A dataset uploaded after the boundaries: match its wards to them (boundaries that
    have expired are simply not reported; `show the map` will ask for them again)."""
    from actions.service.dataset_store import DatasetNotFound

    boundaries = await _load_boundaries(tracker)
    if boundaries is None:
        return
    try:
        dataset = await ds.dataset_store().load(dataset_id, owner=tracker.sender_id)
    except DatasetNotFound:
        return
    await report_match(dispatcher, tracker, dataset, boundaries)


def _resume(tracker: Tracker) -> list[EventType]:
    """A form in progress goes on with its pending question."""
    return cs.enter_form() if cs.form_active(tracker) else []


class ActionBoundariesUploaded(Action):
    """`/boundaries_uploaded{"boundaries_id": ...}`: keep the id, report the match."""

    def name(self) -> str:
        return "action_boundaries_uploaded"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from actions.service.dataset_store import DatasetNotFound

        ids = LatestMessage(tracker).hints("boundaries_id")
        boundaries_id = ids[0].strip() if ids else ""
        if not boundaries_id:
            dispatcher.utter_message(
                text="I didn't receive a boundaries id. " + msg.BOUNDARIES_HOW_TO
            )
            return _resume(tracker)
        store = boundary_store()
        try:
            summary = await store.load_summary(boundaries_id, owner=tracker.sender_id)
            boundaries = await store.load(boundaries_id, owner=tracker.sender_id)
        except DatasetNotFound:
            dispatcher.utter_message(text=msg.BOUNDARIES_NOT_AVAILABLE)
            return _resume(tracker)
        dispatcher.utter_message(text=msg.boundaries_loaded_text(summary))
        dataset = await _load_dataset(tracker)
        if dataset is None:
            dispatcher.utter_message(text=msg.MAP_NEEDS_DATASET)
        else:
            await report_match(dispatcher, tracker, dataset, boundaries)
        return [SlotSet("boundaries_id", boundaries_id), *_resume(tracker)]


@dataclass
class _Selection:
    selection: Any
    dataset: Any
    boundaries: Any


class MapAction(Action, ABC):
    """Shared opening of the two map actions: boundaries, dataset and a state to map
    (abstract, so rasa-sdk does not register it as an action)."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        boundaries = await _load_boundaries(tracker)
        if boundaries is None:
            dispatcher.utter_message(text=msg.BOUNDARIES_HOW_TO)
            return _resume(tracker)
        dataset = await _load_dataset(tracker)
        if dataset is None:
            dispatcher.utter_message(text=msg.MAP_NEEDS_DATASET)
            return _resume(tracker)
        values = cs.selection_in_force(tracker)
        if not values["state"] and len(dataset.states) == 1:
            values["state"] = dataset.states[0]
        if not values["state"]:
            dispatcher.utter_message(text=msg.MAP_NEEDS_STATE)
            return _resume(tracker)
        from actions.tpr import Selection, TPRDataError

        try:
            await self.draw(dispatcher, tracker, _Selection(Selection(**values), dataset,
                                                            boundaries))  # fmt: skip
        except TPRDataError as error:
            dispatcher.utter_message(text=f"I couldn't draw this map: {error}")
        return _resume(tracker)

    @abstractmethod
    async def draw(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, chosen: _Selection
    ) -> None:
        """Draw, store and send the map of `chosen`."""


def _map_files(chosen: _Selection) -> tuple[Any, Any, bytes, bytes]:
    """Worker thread: result, match report of the state, map PNG and GeoJSON."""
    from actions.tpr import compute_tpr
    from actions.tpr.maps import result_geojson_bytes, tpr_map_png

    result = compute_tpr(chosen.dataset, chosen.selection)
    report = _match(chosen.dataset, chosen.boundaries, result.selection.state)
    png = tpr_map_png(result, chosen.boundaries, report)
    geojson = result_geojson_bytes(result, chosen.boundaries, report)
    return result, report, png, geojson


def _file_stem(selection: Any) -> str:
    return f"tpr_map_{_stem(selection.state)}_{selection.facility_level}_{selection.age_group}"


class ActionShowMap(MapAction):
    def name(self) -> str:
        return "action_show_map"

    async def draw(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, chosen: _Selection
    ) -> None:
        loop = asyncio.get_running_loop()
        result, report, png, geojson = await loop.run_in_executor(None, _map_files, chosen)
        stem = _file_stem(result.selection)
        png_link, geojson_link = await asyncio.gather(
            save_file(tracker, f"{stem}.png", "image/png", png),
            save_file(tracker, f"{stem}.geojson", GEOJSON_TYPE, geojson),
        )
        dispatcher.utter_message(text=msg.map_caption("tpr"), image=png_link)
        dispatcher.utter_message(text=msg.match_report_text(report, [result.selection.state]))
        dispatcher.utter_message(text=msg.geojson_offer_text(geojson_link))


def _completeness_png(chosen: _Selection) -> tuple[Any, bytes]:
    from actions.tpr.maps import completeness_map_png

    report = _match(chosen.dataset, chosen.boundaries, chosen.selection.state)
    png = completeness_map_png(chosen.dataset, chosen.selection, chosen.boundaries, report)
    return report, png


class ActionMapMissingData(MapAction):
    def name(self) -> str:
        return "action_map_missing_data"

    async def draw(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, chosen: _Selection
    ) -> None:
        loop = asyncio.get_running_loop()
        _, png = await loop.run_in_executor(None, _completeness_png, chosen)
        stem = f"completeness_map_{_stem(chosen.selection.state)}"
        link = await save_file(tracker, f"{stem}.png", "image/png", png)
        dispatcher.utter_message(text=msg.map_caption("completeness"), image=link)


async def geojson_with_results(
    dispatcher: CollectingDispatcher, tracker: Tracker, dataset: Any, result: Any
) -> None:
    """After the results, with boundaries loaded: the state's match and the GeoJSON link."""
    boundaries = await _load_boundaries(tracker)
    if boundaries is None:
        return

    def work() -> tuple[Any, bytes]:
        from actions.tpr.maps import result_geojson_bytes

        report = _match(dataset, boundaries, result.selection.state)
        return report, result_geojson_bytes(result, boundaries, report)

    report, geojson = await asyncio.get_running_loop().run_in_executor(None, work)
    link = await save_file(tracker, f"{_file_stem(result.selection)}.geojson", GEOJSON_TYPE,
                           geojson)  # fmt: skip
    dispatcher.utter_message(text=msg.match_report_text(report, [result.selection.state]))
    dispatcher.utter_message(text=msg.geojson_offer_text(link))
