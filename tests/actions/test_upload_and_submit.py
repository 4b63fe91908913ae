"""Upload ownership, results from the engine's numbers, files in the result store, reselection."""

from __future__ import annotations

import csv
import io

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import dataset_summary
from actions.conversation.dataset_uploaded import ActionDatasetUploaded
from actions.conversation.messages import count, pct
from actions.conversation.submit import ActionReselect, ActionTprSubmit
from actions.tpr import Selection, compute_tpr, load_dataset
from tests.actions.conftest import DOMAIN, Datasets, loop_events, make_tracker, slot_events, texts

DONE = {"state": "Adamawa", "confirmed": True, "facility_level": "primary", "age_group": "u5"}


def uploaded(dataset_id: str, sender: str = "analyst-1"):
    text = f'/dataset_uploaded{{"dataset_id": "{dataset_id}"}}'
    entities = [{"entity": "dataset_id", "value": dataset_id}]
    return make_tracker(
        None, text, "dataset_uploaded", entities, active_loop=None, sender_id=sender
    )


async def test_upload_summarises_and_starts_the_form(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    events = await ActionDatasetUploaded().run(dispatcher, uploaded(datasets.two_states), DOMAIN)
    assert slot_events(events)["dataset_id"] == datasets.two_states
    assert loop_events(events) == ["tpr_form"]
    summary = datasets.summaries["two_states"]
    text = texts(dispatcher)[0]
    adamawa = summary["by_state"]["Adamawa"]
    assert f"- Adamawa: {adamawa['lgas']} LGAs, {adamawa['wards']} wards" in text
    assert f"Period: {summary['period']['first']} to {summary['period']['last']}" in text
    assert f"RDT {pct(summary['completeness']['rdt']['all'])}" in text


async def test_foreign_and_unknown_dataset_ids_get_the_same_refusal(datasets: Datasets) -> None:
    foreign, unknown = CollectingDispatcher(), CollectingDispatcher()
    events_foreign = await ActionDatasetUploaded().run(
        foreign, uploaded(datasets.two_states, sender="someone-else"), DOMAIN
    )
    events_unknown = await ActionDatasetUploaded().run(
        unknown, uploaded("Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0", sender="someone-else"), DOMAIN
    )
    assert events_foreign == events_unknown == []
    assert (
        texts(foreign)
        == texts(unknown)
        == ["I can't open that dataset. Please upload the file again."]
    )


async def test_submit_reports_the_engines_figures_and_stores_the_files(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, slots=DONE, active_loop=None)
    await ActionTprSubmit().run(dispatcher, tracker, DOMAIN)

    expected = compute_tpr(
        load_dataset(datasets.files["two_states"]),
        Selection(state="Adamawa", facility_level="primary", age_group="u5"),
    )
    stats = expected.stats
    body = "\n".join(texts(dispatcher))
    assert (
        f"Wards with data: {count(stats['wards_with_data'])} of {count(stats['wards_total'])} "
        f"(without data: {count(stats['wards_without_data'])})."
    ) in body
    assert (
        f"mean {pct(stats['mean'])}, median {pct(stats['median'])}, "
        f"min {pct(stats['min'])}, max {pct(stats['max'])}"
    ) in body
    top = expected.top_wards(10).dropna(subset=["tpr"])
    first = top.iloc[0]
    tests = count(first["tested"])
    assert f"1. {first['ward']} ({first['lga']}): {pct(first['tpr'])} of {tests} tests" in body

    image = next(m["image"] for m in dispatcher.messages if m.get("image"))
    links = [part for part in body.split() if part.startswith("/api/download/")]
    assert image.startswith("/api/download/")
    assert len(links) == 2
    files = dataset_summary.result_store()
    chart = await files.load(image.rsplit("/", 1)[1])
    assert chart.content_type == "image/png" and chart.data.startswith(b"\x89PNG")
    table = await files.load(links[0].rsplit("/", 1)[1])
    assert table.filename == "tpr_adamawa_primary_u5_max_202401-202412.csv"
    rows = list(csv.DictReader(io.StringIO(table.data.decode("utf-8-sig"))))
    assert len(rows) == stats["wards_total"]
    assert (await files.load(links[1].rsplit("/", 1)[1])).filename.endswith(".xlsx")


async def test_submit_without_dataset_explains_upload(dispatcher: CollectingDispatcher) -> None:
    tracker = make_tracker(None, slots=DONE, active_loop=None)
    assert await ActionTprSubmit().run(dispatcher, tracker, DOMAIN) == []
    assert "upload" in texts(dispatcher)[0]


@pytest.mark.parametrize(
    ("text", "entities", "changes"),
    [
        ("now pregnant women", [{"entity": "age_group", "value": "pw"}], {"age_group": "pw"}),
        ("now pregnant women", [], {"age_group": "pw"}),
        ("same for all facilities", [], {"facility_level": "all"}),
        (
            "analyze Kwara",
            [{"entity": "state", "value": "Kwara"}],
            {"state": "Kwara", "confirmed": True},
        ),
        ("analyse kwara state", [], {"state": "Kwara", "confirmed": True}),
    ],
)
async def test_reselection_after_results_changes_one_answer_and_reruns(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, entities: list, changes: dict
) -> None:
    tracker = make_tracker(
        datasets.two_states, text, "inform", entities, slots=DONE, active_loop=None
    )
    events = await ActionReselect().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == changes
    assert loop_events(events) == ["tpr_form"]


async def test_reselection_of_a_state_not_in_the_file_is_refused(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    entities = [{"entity": "state", "value": "Lagos"}]
    tracker = make_tracker(
        datasets.two_states, "analyze Lagos", "inform", entities, slots=DONE, active_loop=None
    )
    assert await ActionReselect().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher) == [
        "I couldn't find 'Lagos' in this file. The states in it are: Adamawa, Kwara."
    ]


async def test_refused_upload_mid_form_goes_on_with_the_pending_question(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    text = '/dataset_uploaded{"dataset_id": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"}'
    entities = [{"entity": "dataset_id", "value": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"}]
    tracker = make_tracker(
        datasets.two_states, text, "dataset_uploaded", entities, slots={"state": "Adamawa"}
    )
    events = await ActionDatasetUploaded().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {}
    assert loop_events(events) == ["tpr_form"]
