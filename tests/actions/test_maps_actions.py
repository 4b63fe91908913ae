"""Map actions on real trackers, with the real BoundaryStore / DatasetStore in a private Redis:
the match report after a boundary upload, `show the map`, `map the missing data`, the
GeoJSON after the results, and the one-message explanation without boundaries."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import geopandas as gpd
import matplotlib.image
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import dataset_summary
from actions.conversation import maps as map_actions
from actions.conversation import messages as msg
from actions.conversation.dataset_uploaded import ActionDatasetUploaded
from actions.conversation.maps import (
    ActionBoundariesUploaded,
    ActionMapMissingData,
    ActionShowMap,
)
from actions.conversation.submit import ActionTprSubmit
from actions.tpr.boundaries import read_boundaries
from actions.tpr.sample_boundaries import sample_boundaries, write_boundaries
from tests.actions.conftest import DOMAIN, OWNER, Datasets, make_tracker, slot_events, texts

DONE = {"state": "Adamawa", "confirmed": True, "facility_level": "all", "age_group": "all"}


@pytest.fixture()
async def boundaries_id(
    datasets: Datasets, loaded_samples, tmp_path: Path
) -> AsyncIterator[tuple[str, object]]:
    """Sample boundaries (with their traps) of the two-state sample, saved for OWNER."""
    dataset, _ = loaded_samples["two_states"]
    gdf, traps = sample_boundaries(dataset)
    path = write_boundaries(gdf, tmp_path / "wards.geojson")
    boundaries = read_boundaries(path.read_bytes(), "wards.geojson")
    map_actions.reset_boundary_store()
    store = map_actions.boundary_store()
    saved = await store.save_bytes(OWNER, boundaries.to_bytes(), boundaries.summary())
    yield saved, traps
    map_actions.reset_boundary_store()


async def _stored(link: str):
    token = link.rsplit("/", 1)[-1]
    return await dataset_summary.result_store().load(token)


def _links(text: str) -> list[str]:
    return re.findall(r"/api/download/[A-Za-z0-9_-]+", text)


async def test_boundary_upload_reports_the_match_with_named_wards(
    datasets: Datasets, boundaries_id, dispatcher: CollectingDispatcher
) -> None:
    saved, traps = boundaries_id
    text = f'/boundaries_uploaded{{"boundaries_id": "{saved}"}}'
    tracker = make_tracker(
        datasets.two_states, text, "boundaries_uploaded",
        [{"entity": "boundaries_id", "value": saved}], active_loop=None,
    )  # fmt: skip
    events = await ActionBoundariesUploaded().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"boundaries_id": saved}
    body = "\n".join(texts(dispatcher))
    assert "Ward boundaries loaded:" in body
    state, lga, ward = traps.missing
    assert f"{ward} ({lga}, {state})" in body  # data ward without polygon, named
    (m_state, m_lga, m_ward), spelling = traps.misspelt
    assert f"{m_ward} ({m_lga}) = {spelling}" in body  # loose match, both spellings
    assert f"{traps.extra[2]} ({traps.extra[1]}, {traps.extra[0]})" in body
    report = await _stored(_links(body)[0])
    assert report.content_type == "text/csv"
    assert "data ward without polygon" in report.data.decode("utf-8-sig")


async def test_foreign_boundaries_id_is_refused_and_not_kept(
    datasets: Datasets, boundaries_id, dispatcher: CollectingDispatcher
) -> None:
    saved, _ = boundaries_id
    tracker = make_tracker(
        datasets.two_states, "/boundaries_uploaded", "boundaries_uploaded",
        [{"entity": "boundaries_id", "value": saved}], active_loop=None, sender_id="other",
    )  # fmt: skip
    events = await ActionBoundariesUploaded().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {}
    assert texts(dispatcher) == [msg.BOUNDARIES_NOT_AVAILABLE]


async def test_show_map_without_boundaries_explains_in_one_message(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "show the map", "show_map", slots=DONE,
                           active_loop=None)  # fmt: skip
    await ActionShowMap().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == [msg.BOUNDARIES_HOW_TO]
    assert "GRID3" in msg.BOUNDARIES_HOW_TO and "upload" in msg.BOUNDARIES_HOW_TO


async def test_show_map_draws_the_selection_and_offers_geojson(
    datasets: Datasets, boundaries_id, dispatcher: CollectingDispatcher
) -> None:
    saved, traps = boundaries_id
    slots = {**DONE, "boundaries_id": saved}
    tracker = make_tracker(datasets.two_states, "show the map", "show_map", slots=slots,
                           active_loop=None)  # fmt: skip
    await ActionShowMap().run(dispatcher, tracker, DOMAIN)
    image = next(m["image"] for m in dispatcher.messages if m.get("image"))
    png = await _stored(image)
    assert png.content_type == "image/png"
    pixels = matplotlib.image.imread(io.BytesIO(png.data), format="png")
    assert pixels.shape[:2] == (1350, 1080)
    geojson_link = _links(texts(dispatcher)[-1])[0]
    geojson = await _stored(geojson_link)
    assert geojson.content_type == "application/geo+json"
    frame = gpd.read_file(io.BytesIO(geojson.data))
    assert set(frame["state"]) == {"Adamawa"}
    assert frame.geometry.notna().sum() == len(frame) - 1  # the trap ward has no polygon


async def test_map_missing_data_draws_completeness(
    datasets: Datasets, boundaries_id, dispatcher: CollectingDispatcher
) -> None:
    saved, _ = boundaries_id
    slots = {**DONE, "boundaries_id": saved}
    tracker = make_tracker(datasets.two_states, "map the missing data", "map_missing_data",
                           slots=slots, active_loop=None)  # fmt: skip
    await ActionMapMissingData().run(dispatcher, tracker, DOMAIN)
    assert dispatcher.messages[0]["text"] == msg.map_caption("completeness")
    png = await _stored(dispatcher.messages[0]["image"])
    assert png.data.startswith(b"\x89PNG")


async def test_map_before_a_state_is_chosen_asks_for_it_and_resumes_the_form(
    datasets: Datasets, boundaries_id, dispatcher: CollectingDispatcher
) -> None:
    saved, _ = boundaries_id
    tracker = make_tracker(datasets.two_states, "show the map", "show_map",
                           slots={"boundaries_id": saved})  # fmt: skip
    events = await ActionShowMap().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == [msg.MAP_NEEDS_STATE]
    assert [e.get("name") for e in events if e.get("event") == "active_loop"] == ["tpr_form"]


async def test_results_offer_geojson_and_a_later_dataset_is_matched(
    datasets: Datasets, boundaries_id
) -> None:
    saved, traps = boundaries_id
    submit = CollectingDispatcher()
    tracker = make_tracker(datasets.two_states, slots={**DONE, "boundaries_id": saved},
                           active_loop=None)  # fmt: skip
    await ActionTprSubmit().run(submit, tracker, DOMAIN)
    body = "\n".join(texts(submit))
    assert "GeoJSON" in body and "Match with the boundaries:" in body
    upload = CollectingDispatcher()
    text = f'/dataset_uploaded{{"dataset_id": "{datasets.one_state}"}}'
    tracker = make_tracker(
        None, text, "dataset_uploaded", [{"entity": "dataset_id", "value": datasets.one_state}],
        slots={"boundaries_id": saved}, active_loop=None,
    )  # fmt: skip
    await ActionDatasetUploaded().run(upload, tracker, DOMAIN)
    assert any(t.startswith("Match with the boundaries:") for t in texts(upload))
