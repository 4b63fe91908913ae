"""Navigation actions: back, change, status, help, cancel, restart, start, small talk."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation.navigation import (
    ActionCancel,
    ActionChangeSlot,
    ActionContextualReply,
    ActionGoBack,
    ActionHelp,
    ActionRestartAnalysis,
    ActionStartTpr,
    ActionStatus,
)
from tests.actions.conftest import DOMAIN, Datasets, loop_events, make_tracker, slot_events, texts

AT = {
    "state": {"requested_slot": "state"},
    "confirmed": {"state": "Adamawa", "requested_slot": "confirmed"},
    "facility_level": {"state": "Adamawa", "confirmed": True, "requested_slot": "facility_level"},
    "age_group": {
        "state": "Adamawa",
        "confirmed": True,
        "facility_level": "primary",
        "requested_slot": "age_group",
    },
}
DONE = {
    "state": "Adamawa",
    "confirmed": True,
    "facility_level": "primary",
    "age_group": "u5",
    "requested_slot": None,
}


@pytest.mark.parametrize(
    ("stage", "cleared"),
    [
        ("state", {}),
        ("confirmed", {"state": None, "confirmed": None}),
        ("facility_level", {"confirmed": None}),
        ("age_group", {"facility_level": None}),
    ],
)
async def test_back_clears_the_previous_answer_and_reenters_the_form(
    datasets: Datasets, dispatcher: CollectingDispatcher, stage: str, cleared: dict
) -> None:
    tracker = make_tracker(datasets.two_states, "go back", "go_back", slots=AT[stage])
    events = await ActionGoBack().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == cleared
    assert loop_events(events) == ["tpr_form"]


async def test_back_after_results_reopens_the_age_group(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "back", "go_back", slots=DONE, active_loop=None)
    events = await ActionGoBack().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"age_group": None}
    assert loop_events(events) == ["tpr_form"]


async def test_back_skips_the_question_a_single_state_file_never_asked(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.one_state, "back", "go_back", slots=AT["confirmed"])
    events = await ActionGoBack().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {}
    assert texts(dispatcher) == ["This is the first question already."]


@pytest.mark.parametrize("stage", list(AT))
@pytest.mark.parametrize(
    ("text", "entities", "slot"),
    [
        ("change the age group", [{"entity": "slot_name", "value": "age_group"}], "age_group"),
        ("change state", [{"entity": "slot_name", "value": "state"}], "state"),
        ("change facility level", [], "facility_level"),
    ],
)
async def test_change_clears_that_answer_only(
    datasets: Datasets,
    dispatcher: CollectingDispatcher,
    stage: str,
    text: str,
    entities: list,
    slot: str,
) -> None:
    tracker = make_tracker(datasets.two_states, text, "change_slot", entities, slots=AT[stage])
    events = await ActionChangeSlot().run(dispatcher, tracker, DOMAIN)
    expected = {slot: None, **({"confirmed": None} if slot == "state" else {})}
    assert slot_events(events) == expected
    assert loop_events(events) == ["tpr_form"]


async def test_change_with_a_value_sets_it(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    entities = [
        {"entity": "slot_name", "value": "age_group"},
        {"entity": "age_group", "value": "pw"},
    ]
    tracker = make_tracker(
        datasets.two_states,
        "change age group to pregnant women",
        "change_slot",
        entities,
        slots=DONE,
        active_loop=None,
    )
    events = await ActionChangeSlot().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"age_group": "pw"}
    assert loop_events(events) == ["tpr_form"]


async def test_change_of_a_skipped_question_says_why(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.no_levels, "change level", "change_slot", slots=AT["age_group"])
    events = await ActionChangeSlot().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {}
    assert texts(dispatcher) == [
        "This file has no facility level column, so the calculation always uses all facilities."
    ]


async def test_status_lists_answers_and_pending_question(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "where am I", "status", slots=AT["age_group"])
    events = await ActionStatus().run(dispatcher, tracker, DOMAIN)
    text = texts(dispatcher)[0]
    assert "- State: Adamawa" in text
    assert "- Facility level: Primary" in text
    assert "- Age group: not chosen yet" in text
    assert text.endswith("Pending question: the age group.")
    assert loop_events(events) == ["tpr_form"]


async def test_help_explains_the_pending_question_with_its_options(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "help", "help", slots=AT["state"])
    events = await ActionHelp().run(dispatcher, tracker, DOMAIN)
    assert "Options: Adamawa, Kwara." in texts(dispatcher)[0]
    assert loop_events(events) == ["tpr_form"]


async def test_cancel_leaves_the_form_and_keeps_dataset_and_answers(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "cancel", "cancel", slots=AT["facility_level"])
    events = await ActionCancel().run(dispatcher, tracker, DOMAIN)
    assert loop_events(events) == [None]
    assert slot_events(events) == {"requested_slot": None}
    assert "Your dataset is still loaded" in texts(dispatcher)[0]
    assert "start TPR" in texts(dispatcher)[0]


async def test_restart_clears_answers_on_the_same_dataset(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "restart", "restart_analysis", slots=DONE)
    events = await ActionRestartAnalysis().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == dict.fromkeys(
        ("state", "confirmed", "facility_level", "age_group")
    )
    assert "dataset_id" not in slot_events(events)
    assert loop_events(events) == ["tpr_form"]


async def test_start_tpr_without_dataset_explains_upload(dispatcher: CollectingDispatcher) -> None:
    tracker = make_tracker(None, "start TPR", "start_tpr", active_loop=None)
    events = await ActionStartTpr().run(dispatcher, tracker, DOMAIN)
    assert events == []
    assert "upload your NMEP health-facility workbook" in texts(dispatcher)[0]


async def test_start_tpr_with_dataset_starts_the_form(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, "start TPR", "start_tpr", active_loop=None)
    events = await ActionStartTpr().run(dispatcher, tracker, DOMAIN)
    assert loop_events(events) == ["tpr_form"]


async def test_small_talk_outside_the_form_says_what_to_do_next(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(None, "hello", "greet", active_loop=None)
    await ActionContextualReply().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher)[0].startswith("Hello! I'm the TPR assistant")
    assert "upload" in texts(dispatcher)[0]
