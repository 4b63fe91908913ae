"""validate_tpr_form and the questions: loose answers, invalid answers, skips, small talk."""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation.form_validation import (
    ActionAskAgeGroup,
    ActionAskConfirmed,
    ActionAskFacilityLevel,
    ActionAskState,
    ValidateTprForm,
)
from tests.actions.conftest import DOMAIN, Datasets, loop_events, make_tracker, slot_events, texts

STATE_ANSWERS = [
    ("Adamawa State", []),
    ("adamawa", []),
    ("ADAMAWA", []),
    ("ad Adamawa State", []),
    ("Adamwa", []),
    ("1", []),
    ("let's analyze adamawa state please", []),
    ('/inform{"state": "Adamawa"}', []),
    ("Adamawa State", [{"entity": "state", "value": "Adamawa"}]),
]


async def validate(tracker, dispatcher: CollectingDispatcher):
    return await ValidateTprForm().run(dispatcher, tracker, DOMAIN)


@pytest.mark.parametrize(("text", "entities"), STATE_ANSWERS)
async def test_loose_state_answers_become_the_files_spelling(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, entities: list
) -> None:
    tracker = make_tracker(
        datasets.two_states, text=text, entities=entities, candidates={"state": text}
    )
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"state": "Adamawa", "confirmed": None}
    assert texts(dispatcher) == []


async def test_second_state_by_number_and_misspelling(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    for text in ("2", "Kwarra", "kw Kwara State"):
        tracker = make_tracker(datasets.two_states, text=text, candidates={"state": text})
        assert slot_events(await validate(tracker, dispatcher))["state"] == "Kwara"


async def test_unknown_state_is_rejected_with_the_files_states(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.two_states, text="Lagos", candidates={"state": "Lagos"})
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"state": None}
    assert texts(dispatcher) == [
        "I couldn't find 'Lagos' in this file. The states in it are: Adamawa, Kwara."
    ]


@pytest.mark.parametrize(
    "text", ["yes", "ok", "sure", "proceed with TPR calculation", "/affirm", "Adamawa state"]
)
async def test_yes_confirms(datasets: Datasets, dispatcher: CollectingDispatcher, text) -> None:
    tracker = make_tracker(
        datasets.two_states,
        text=text,
        intent="affirm",
        slots={"state": "Adamawa", "requested_slot": "confirmed"},
        candidates={"confirmed": text},
    )
    assert slot_events(await validate(tracker, dispatcher)) == {"confirmed": True}


async def test_no_clears_the_state_to_ask_again(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.two_states,
        text="no",
        intent="deny",
        slots={"state": "Adamawa", "requested_slot": "confirmed"},
        candidates={"confirmed": "no"},
    )
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"confirmed": False, "state": None}
    assert texts(dispatcher) == ["OK, let's choose another state."]


async def test_naming_another_state_at_the_confirmation_switches_state(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.two_states,
        text="Kwara",
        slots={"state": "Adamawa", "requested_slot": "confirmed"},
        candidates={"confirmed": "Kwara"},
    )
    assert slot_events(await validate(tracker, dispatcher)) == {"state": "Kwara", "confirmed": None}


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Primary", "primary"),
        ("primary", "primary"),
        ("primary health facilities", "primary"),
        ("only primary", "primary"),
        ("1", "primary"),
        ("prmary", "primary"),
        ("all facilities", "all"),
        ("All", "all"),
        ('/inform{"facility_level": "all"}', "all"),
    ],
)
async def test_facility_level_answers(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, level: str
) -> None:
    tracker = make_tracker(
        datasets.two_states,
        text=text,
        slots={"state": "Adamawa", "confirmed": True, "requested_slot": "facility_level"},
        candidates={"facility_level": text},
    )
    assert slot_events(await validate(tracker, dispatcher)) == {"facility_level": level}
    assert texts(dispatcher) == []


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("Under 5", "u5"),
        ("under five", "u5"),
        ("children under 5", "u5"),
        ("u5", "u5"),
        ("over 5", "o5"),
        ("pregnant women", "pw"),
        ("PW", "pw"),
        ("all ages", "all"),
        ("everyone", "all"),
        ("3", "pw"),
        ("4", "all"),
    ],
)
async def test_age_group_answers(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, age: str
) -> None:
    tracker = make_tracker(
        datasets.two_states,
        text=text,
        slots={
            "state": "Adamawa",
            "confirmed": True,
            "facility_level": "primary",
            "requested_slot": "age_group",
        },
        candidates={"age_group": text},
    )
    assert slot_events(await validate(tracker, dispatcher)) == {"age_group": age}


async def test_age_group_without_data_is_not_offered_and_refused(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    slots = {"state": "Adamawa", "confirmed": True, "facility_level": "all"}
    ask = CollectingDispatcher()
    await ActionAskAgeGroup().run(ask, make_tracker(datasets.no_pw, slots=slots), DOMAIN)
    titles = [b["title"] for b in ask.messages[0]["buttons"]]
    assert titles == ["Under 5", "Over 5", "All ages"]

    tracker = make_tracker(
        datasets.no_pw,
        text="pregnant women",
        slots=slots,
        candidates={"age_group": "pregnant women"},
    )
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"age_group": None}
    assert texts(dispatcher)[0].startswith("This file has no pregnant women data for Adamawa.")


async def test_single_state_file_selects_the_state_and_says_so(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(datasets.one_state, text='/dataset_uploaded{"dataset_id": "x"}')
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"state": "Adamawa"}
    assert texts(dispatcher) == ["This file holds one state only, Adamawa, so I selected it."]


async def test_single_state_no_keeps_the_state(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.one_state,
        text="no",
        intent="deny",
        slots={"state": "Adamawa", "requested_slot": "confirmed"},
        candidates={"confirmed": "no"},
    )
    assert slot_events(await validate(tracker, dispatcher)) == {"confirmed": None}
    assert "only covers Adamawa" in texts(dispatcher)[0]


async def test_file_without_level_column_uses_all_after_confirmation(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.no_levels,
        text="yes",
        intent="affirm",
        slots={"state": "Adamawa", "requested_slot": "confirmed"},
        candidates={"confirmed": "yes"},
    )
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"confirmed": True, "facility_level": "all"}
    assert texts(dispatcher) == [
        "This file has no facility level column, so the calculation uses all facilities."
    ]


@pytest.mark.parametrize(
    ("text", "intent", "reply"),
    [
        (
            "how are you",
            "chitchat",
            "I'm the TPR assistant: I can only help with the TPR analysis.",
        ),
        ("hello", "greet", "Hello!"),
        ("order me a pizza", "out_of_scope", "Sorry, I can't help with that; I only calculate"),
        ("what does TPR mean", "chitchat", "TPR (test positivity rate) is the share"),
    ],
)
async def test_small_talk_in_the_form_gets_a_short_answer_not_a_fallback(
    datasets: Datasets, dispatcher: CollectingDispatcher, text: str, intent: str, reply: str
) -> None:
    tracker = make_tracker(
        datasets.two_states, text=text, intent=intent, candidates={"state": text}
    )
    events = await validate(tracker, dispatcher)
    assert slot_events(events) == {"state": None}
    assert len(texts(dispatcher)) == 1
    assert texts(dispatcher)[0].startswith(reply)


async def test_nothing_to_validate_produces_no_events(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    """A navigation command reaches validation with no candidates: the form must reject."""
    tracker = make_tracker(
        datasets.two_states, text="go back", intent="go_back", slots={"state": "Adamawa"}
    )
    assert await validate(tracker, dispatcher) == []
    assert texts(dispatcher) == []


async def test_missing_dataset_ends_the_form(dispatcher: CollectingDispatcher, datasets) -> None:
    tracker = make_tracker(
        "no-such-dataset-id-000000000", text="Adamawa", candidates={"state": "x"}
    )
    events = await validate(tracker, dispatcher)
    assert loop_events(events) == [None]


async def test_questions_show_context_and_buttons(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    summary = datasets.summaries["two_states"]
    adamawa = summary["by_state"]["Adamawa"]
    slots = {"state": "Adamawa", "confirmed": True}
    for action in (ActionAskState(), ActionAskConfirmed(), ActionAskFacilityLevel()):
        await action.run(dispatcher, make_tracker(datasets.two_states, slots=slots), DOMAIN)
    state_q, confirm_q, level_q = dispatcher.messages
    assert state_q["text"].startswith("Which state would you like to analyze?")
    assert [b["title"] for b in state_q["buttons"]] == ["Adamawa", "Kwara"]
    assert f"{adamawa['lgas']} LGAs, {adamawa['wards']} wards" in confirm_q["text"]
    assert confirm_q["text"].endswith("Proceed with the TPR calculation for Adamawa?")
    assert [b["payload"] for b in confirm_q["buttons"]] == ["/affirm", "/deny"]
    primary = adamawa["levels"]["primary"]
    assert (
        f"Primary: {primary['facilities']:,} facilities, {primary['tests']:,} tests"
        in (level_q["text"])
    )
    expected = "primary" if primary["share"] >= 70 else "all facilities"
    assert f"I recommend {expected}" in level_q["text"]
    assert [b["title"] for b in level_q["buttons"]][-1] == "All facilities"


async def test_a_state_missing_from_the_file_at_the_confirmation_is_named_as_such(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.one_state,
        text="Kano",
        slots={"state": "Adamawa", "requested_slot": "confirmed"},
        candidates={"confirmed": "Kano"},
    )
    assert slot_events(await validate(tracker, dispatcher)) == {"confirmed": None}
    assert texts(dispatcher) == [
        "I couldn't find 'Kano' in this file. The states in it are: Adamawa."
    ]
