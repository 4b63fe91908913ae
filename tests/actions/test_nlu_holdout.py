"""Held-out NLU check: the trained model on analyst-style messages it never saw.

Intent accuracy must be at least 95% on each held-out file, and the entities must lead to the
right canonical slot values (through the same matching the actions use). The refinements file
annotates periods as `START-END` resolved against a file covering January 2023 to December 2024
(the action parses periods from the text; the CRF does not tag them). Needs
models/tpr-assistant.tar.gz (`make test` trains it first).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from actions.conversation.answer_matching import (
    NIGERIAN_STATES,
    match_state,
    mentioned_age,
    mentioned_level,
)
from actions.conversation.question_matching import (
    compare_mentions,
    comparison_periods,
    match_places,
    rank_request,
)
from actions.conversation.refinement_matching import (
    PeriodChoice,
    mentioned_method,
    resolve_period,
)
from actions.tpr.sample import ADAMAWA_LGAS, REPEATED_WARD, WARD_NAMES

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "tpr-assistant.tar.gz"
# One file per area, each written before its intents were trained and never trained on.
HOLDOUTS = [
    ROOT / "tests" / "nlu_holdout.yml",
    ROOT / "tests" / "nlu_holdout_followups.yml",
    ROOT / "tests" / "nlu_holdout_refinements.yml",
    ROOT / "tests" / "nlu_holdout_maps.yml",
]
FILE_MONTHS = [year * 100 + month for year in (2023, 2024) for month in range(1, 13)]
MIN_INTENT_ACCURACY = 0.95
ALL_STATES = list(NIGERIAN_STATES)
CANONICAL_STATE = {"FCT": "Federal Capital Territory"}


def load_examples(path: Path) -> list[Any]:
    from rasa.shared.nlu.training_data.loading import load_data

    return list(load_data(str(path)).intent_examples)


def slot_value(entity: str, text: str, hints: list[str]) -> str | None:
    """The slot value the bot ends with: the actions match the NLU entities first, then the
    text itself (inside the form every answer reaches validation as text)."""
    if entity == "state":
        return match_state(text, ALL_STATES, hints, numbered=False)
    if entity == "facility_level":
        return mentioned_level(text, hints)
    if entity == "age_group":
        return mentioned_age(text, hints)
    if entity == "method":
        return mentioned_method(text, hints)
    if entity == "period":
        period = resolve_period(text, FILE_MONTHS)
        if not isinstance(period, PeriodChoice):
            return None
        if period.start is None and period.end is None:
            return "all"
        return f"{period.start or ''}-{period.end or ''}"
    if entity == "lga":
        return next(iter(match_places(text, hints, ADAMAWA_LGAS)), None)
    if entity == "ward":
        return next(iter(match_places(text, hints, [*WARD_NAMES, REPEATED_WARD])), None)
    if entity == "rank_direction":
        return rank_request(text, hints)[0]
    if entity == "number":
        return str(rank_request(text, number_hints=hints)[1])
    return hints[0] if hints else None


def compared_values(entity: str, text: str) -> list[str]:
    """Every value of one kind a comparison names, in order (as action_compare_selection
    reads them: `compare under 5 and all ages` names u5 then all)."""
    if entity == "period":
        sides = comparison_periods(text, FILE_MONTHS)
        if not isinstance(sides, tuple):
            return []
        return [f"{p.start or ''}-{p.end or ''}" if p.start or p.end else "all"
                for p in sides if p is not None]  # fmt: skip
    return [value for slot, value in compare_mentions(text) if slot == entity]


@pytest.fixture(scope="module")
def agent() -> Any:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` first")
    from rasa.core.agent import Agent

    return Agent.load(str(MODEL))


@pytest.mark.parametrize("holdout", HOLDOUTS, ids=lambda p: p.name)
def test_holdout_is_not_in_the_training_data(holdout: Path) -> None:
    def key(text: str) -> str:
        return re.sub(r"\s+", " ", text.casefold()).strip()

    trained = {key(m.get("text")) for f in (ROOT / "data" / "nlu").glob("*.yml")
               for m in load_examples(f)}  # fmt: skip
    overlap = [m.get("text") for m in load_examples(holdout) if key(m.get("text")) in trained]
    assert overlap == []


@pytest.mark.parametrize("holdout", HOLDOUTS, ids=lambda p: p.name)
async def test_holdout_intent_accuracy_and_canonical_entities(agent: Any, holdout: Path) -> None:
    examples = load_examples(holdout)
    wrong_intents: list[str] = []
    wrong_entities: list[str] = []
    for example in examples:
        text, gold = example.get("text"), example.get("intent")
        parsed = await agent.parse_message(text)
        predicted = parsed["intent"]["name"]
        if predicted != gold:
            wrong_intents.append(f"{text!r}: {predicted} (expected {gold})")
        for entity in example.get("entities") or []:
            if entity["entity"] == "slot_name":
                continue
            expected = CANONICAL_STATE.get(entity["value"], entity["value"])
            hints = [
                str(e["value"])
                for e in parsed.get("entities", [])
                if e["entity"] == entity["entity"]
            ]
            if gold == "compare_selection":
                named = compared_values(entity["entity"], text)
                got = expected if expected in named else ",".join(named)
            else:
                got = slot_value(entity["entity"], text, hints)
            if got != expected:
                wrong_entities.append(f"{text!r}: {entity['entity']}={got} (expected {expected})")
    accuracy = 1 - len(wrong_intents) / len(examples)
    print(f"{holdout.name}: intent accuracy {accuracy:.1%} on {len(examples)} messages")
    assert accuracy >= MIN_INTENT_ACCURACY, wrong_intents
    assert wrong_entities == []
