"""Refinements (method, period) in the conversation: the period parser against hand-picked
month lists, and action_set_refinement / status / overview / submit on real datasets in a
real private Redis. Result files are checked against the engine's CLI for the same selection."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import dataset_summary
from actions.conversation.form_validation import ActionAskConfirmed
from actions.conversation.navigation import ActionStatus
from actions.conversation.refinement_matching import (
    PeriodChoice,
    PeriodOutside,
    mentioned_method,
    resolve_period,
)
from actions.conversation.refinements import ActionSetRefinement
from actions.conversation.submit import ActionTprSubmit
from tests.actions.conftest import DOMAIN, Datasets, loop_events, make_tracker, slot_events, texts

ROOT = Path(__file__).resolve().parents[2]
DONE = {"state": "Adamawa", "confirmed": True, "facility_level": "primary", "age_group": "u5"}
TWO_YEARS = [y * 100 + m for y in (2023, 2024) for m in range(1, 13)]
# A file with a gap: no April to June 2024.
GAPPED = [202401, 202402, 202403, 202407, 202408, 202409]


@pytest.mark.parametrize(
    ("text", "months", "expected"),
    [
        ("only February to May 2024", TWO_YEARS, PeriodChoice("202402", "202405")),
        ("2024 only", TWO_YEARS, PeriodChoice("202401", "202412")),
        ("just 2023", TWO_YEARS, PeriodChoice("202301", "202312")),
        ("the last 3 months", TWO_YEARS, PeriodChoice("202410", "202412")),
        # the last 3 months the file holds, across its gap
        ("the last 3 months", GAPPED, PeriodChoice("202407", "202409")),
        ("last four months", GAPPED, PeriodChoice("202403", "202409")),
        ("from March", TWO_YEARS, PeriodChoice("202403", None)),  # the latest March
        ("from March 2023", TWO_YEARS, PeriodChoice("202303", None)),
        ("up to August 2024", TWO_YEARS, PeriodChoice(None, "202408")),
        ("all periods", TWO_YEARS, PeriodChoice(None, None)),
        ("use the whole period again", TWO_YEARS, PeriodChoice(None, None)),
        ("November to February", TWO_YEARS, PeriodChoice("202311", "202402")),
        ("between May and September 2024", TWO_YEARS, PeriodChoice("202405", "202409")),
        ("only July 2024", TWO_YEARS, PeriodChoice("202407", "202407")),
        ("202403 to 202405", TWO_YEARS, PeriodChoice("202403", "202405")),
        # outside the file
        ("only January to March 2019", TWO_YEARS, PeriodOutside("January 2019 to March 2019")),
        ("2022 only", TWO_YEARS, PeriodOutside("2022")),
        (
            "December 2022 to February 2023",
            TWO_YEARS,
            PeriodOutside("December 2022 to February 2023"),
        ),  # fmt: skip
        # inside the file's range but none of its months
        ("only May 2024", GAPPED, PeriodOutside("May 2024")),
        ("nothing about months here", TWO_YEARS, None),
    ],
)
def test_periods_resolve_against_the_files_months(
    text: str, months: list[int], expected: object
) -> None:
    assert resolve_period(text, months) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("use RDT only", "rdt"),
        ("RDT", "rdt"),
        ("microscopy only", "microscopy"),
        ("combine both methods", "combined"),
        ("combine rdt and microscopy", "combined"),
        ("back to the default method", "max"),
        ("what about the weather", None),
    ],
)
def test_methods_from_loose_wording(text: str, expected: str | None) -> None:
    assert mentioned_method(text) == expected


def cli_compute(file: Path, out: Path, *flags: str) -> list[dict[str, str]]:
    """The engine's own CLI output for a selection (not the action's code path)."""
    subprocess.run(
        [sys.executable, "-m", "actions.tpr", "compute", str(file), *flags, "--out", str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))


async def test_after_the_results_a_method_change_recalculates_and_names_the_method(
    datasets: Datasets, tmp_path: Path
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        datasets.two_states,
        "use RDT only",
        "set_method",
        [{"entity": "method", "value": "rdt"}],
        slots=DONE,
        active_loop=None,
    )
    events = await ActionSetRefinement().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"method": "rdt"}
    assert loop_events(events) == ["tpr_form"]  # the form finds every answer and submits
    reply = texts(dispatcher)[0]
    assert "RDT only" in reply and "Recalculating" in reply

    # The recalculation: the slots now hold the method and a period.
    submit = CollectingDispatcher()
    slots = {**DONE, "method": "rdt", "period_start": "202402", "period_end": "202405"}
    await ActionTprSubmit().run(submit, make_tracker(datasets.two_states, slots=slots,
                                                     active_loop=None), DOMAIN)  # fmt: skip
    body = "\n".join(texts(submit))
    assert "RDT only" in body and "February 2024 to May 2024" in body
    link = next(p for p in body.split() if p.startswith("/api/download/"))
    stored = await dataset_summary.result_store().load(link.rsplit("/", 1)[1])
    assert stored.filename == "tpr_adamawa_primary_u5_rdt_202402-202405.csv"
    got = list(csv.DictReader(io.StringIO(stored.data.decode("utf-8-sig"))))
    expected = cli_compute(
        datasets.files["two_states"], tmp_path / "cli.csv", "--state", "Adamawa",
        "--facility-level", "primary", "--age-group", "u5", "--method", "rdt",
        "--period-from", "202402", "--period-to", "202405",
    )  # fmt: skip
    assert got == expected
    assert {row["method"] for row in got} <= {"rdt", "none"}


async def test_default_selection_file_is_named_with_method_and_the_files_months(
    datasets: Datasets,
) -> None:
    dispatcher = CollectingDispatcher()
    await ActionTprSubmit().run(
        dispatcher, make_tracker(datasets.two_states, slots=DONE, active_loop=None), DOMAIN
    )
    link = next(p for p in "\n".join(texts(dispatcher)).split() if p.startswith("/api/"))
    stored = await dataset_summary.result_store().load(link.rsplit("/", 1)[1])
    assert stored.filename == "tpr_adamawa_primary_u5_max_202401-202412.csv"


async def test_a_period_outside_the_file_says_what_it_covers_and_changes_nothing(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    slots = {**DONE, "period_start": "202403", "period_end": None}
    tracker = make_tracker(
        datasets.two_states, "only January to March 2019", "set_period", slots=slots,
        active_loop=None,
    )  # fmt: skip
    events = await ActionSetRefinement().run(dispatcher, tracker, DOMAIN)
    assert events == []
    assert texts(dispatcher) == [
        "This file covers January 2024 to December 2024, so I can't use January 2019 to "
        "March 2019. Nothing was changed."
    ]


async def test_during_the_form_the_change_is_kept_and_the_question_asked_again(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    slots = {"state": "Adamawa", "confirmed": True, "facility_level": "primary",
             "requested_slot": "age_group"}  # fmt: skip
    tracker = make_tracker(datasets.two_states, "the last 3 months", "set_period", slots=slots)
    events = await ActionSetRefinement().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"period_start": "202410", "period_end": "202412"}
    assert loop_events(events) == ["tpr_form"]
    assert "Recalculating" not in texts(dispatcher)[0]
    assert "October 2024 to December 2024" in texts(dispatcher)[0]


async def test_before_the_form_the_change_waits_for_the_results(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.two_states, "combine both methods", "set_method",
        [{"entity": "method", "value": "combined"}], active_loop=None,
    )  # fmt: skip
    events = await ActionSetRefinement().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"method": "combined"}
    assert loop_events(events) == []
    assert "start TPR" in texts(dispatcher)[0]


@pytest.mark.parametrize(
    ("text", "intent", "slots", "changes"),
    [
        ("back to the default method", "set_method", {"method": "rdt"}, {"method": "max"}),
        (
            "all periods",
            "set_period",
            {"period_start": "202402", "period_end": "202405"},
            {"period_start": None, "period_end": None},
        ),  # fmt: skip
        ("from March", "set_period", {}, {"period_start": "202403", "period_end": None}),
        (
            "microscopy only for 2024",
            "set_method",
            {},
            {"method": "microscopy", "period_start": "202401", "period_end": "202412"},
        ),  # fmt: skip
    ],
)
async def test_loose_wording_sets_the_canonical_values(
    datasets: Datasets, text: str, intent: str, slots: dict, changes: dict
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        datasets.two_states, text, intent, slots={**DONE, **slots}, active_loop=None
    )
    events = await ActionSetRefinement().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == changes


async def test_the_same_refinement_again_changes_nothing(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.two_states, "RDT", "set_method", slots={**DONE, "method": "rdt"},
        active_loop=None,
    )  # fmt: skip
    assert await ActionSetRefinement().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher)[0].startswith("That is already in force: method RDT only")


async def test_status_and_overview_show_the_refinements_and_how_to_change_them(
    datasets: Datasets,
) -> None:
    slots = {"state": "Adamawa", "method": "microscopy", "period_start": "202402",
             "period_end": "202405", "requested_slot": "confirmed"}  # fmt: skip
    status = CollectingDispatcher()
    await ActionStatus().run(status, make_tracker(datasets.two_states, slots=slots), DOMAIN)
    overview = CollectingDispatcher()
    await ActionAskConfirmed().run(overview, make_tracker(datasets.two_states, slots=slots), DOMAIN)
    for dispatcher in (status, overview):
        text = texts(dispatcher)[0]
        assert "Method: microscopy only. Period: February 2024 to May 2024." in text
        assert "'use RDT only'" in text and "'all periods'" in text
    default = CollectingDispatcher()
    await ActionStatus().run(
        default, make_tracker(datasets.two_states, slots={"state": "Adamawa"}), DOMAIN
    )
    assert (
        "Method: the higher of RDT and microscopy (default). "
        "Period: all months (January 2024 to December 2024)."
    ) in texts(default)[0]


async def test_change_the_method_without_one_shows_what_is_in_force_and_the_choices(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        datasets.two_states, "change the method", "set_method", slots={**DONE, "method": "rdt"},
        active_loop=None,
    )  # fmt: skip
    assert await ActionSetRefinement().run(dispatcher, tracker, DOMAIN) == []
    message = dispatcher.messages[0]
    assert message["text"].startswith("Method: RDT only. Period: all months")
    assert [b["payload"] for b in message["buttons"]] == [
        '/set_method{"method": "max"}', '/set_method{"method": "rdt"}',
        '/set_method{"method": "microscopy"}', '/set_method{"method": "combined"}',
    ]  # fmt: skip


async def test_a_refinement_worded_as_a_reselection_is_applied(
    datasets: Datasets, dispatcher: CollectingDispatcher
) -> None:
    """`now for 2024 only` classified as `inform` reaches action_reselect: it is a refinement."""
    from actions.conversation.submit import ActionReselect

    tracker = make_tracker(
        datasets.two_states, "now for 2024 only", "inform", slots=DONE, active_loop=None
    )
    events = await ActionReselect().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events) == {"period_start": "202401", "period_end": "202412"}
    assert loop_events(events) == ["tpr_form"]
