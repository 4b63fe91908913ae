"""Fixtures for the action tests: real sample datasets in a real (private) Redis, and trackers
built from a JSON fixture the way Rasa sends them to the action server."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import dataset_summary
from actions.tpr import load_dataset, summarise
from actions.tpr.sample import indicator_headers, sample_frame, write_sample_file
from tests.helpers import two_year_frame

DATA = Path(__file__).parent / "data"
OWNER = "analyst-1"
DOMAIN: dict[str, Any] = {"forms": {"tpr_form": {"required_slots": [
    "state", "confirmed", "facility_level", "age_group"]}}}  # fmt: skip


@dataclass
class Datasets:
    """Dataset ids saved for OWNER: two states (A), one state (A), no level column (B), no pw,
    one state over two years (January 2023 to December 2024)."""

    two_states: str
    one_state: str
    no_levels: str
    no_pw: str
    two_years: str
    summaries: dict[str, dict[str, Any]]
    files: dict[str, Path]


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sample workbooks from the engine's generator (written once per session)."""
    root = tmp_path_factory.mktemp("samples")
    no_pw = sample_frame(layout="A", states=2, seed=3)
    for key, header in indicator_headers("A").items():
        if key.endswith("_pw"):
            no_pw[header] = None
    return {
        "two_states": write_sample_file(sample_frame(layout="A", states=2), root / "two.xlsx"),
        "one_state": write_sample_file(sample_frame(layout="A", states=1), root / "one.xlsx"),
        "no_levels": write_sample_file(
            sample_frame(layout="B", states=2), root / "nolevels.xlsx", layout="B"
        ),
        "no_pw": write_sample_file(no_pw, root / "nopw.xlsx"),
        "two_years": write_sample_file(two_year_frame(), root / "two_years.xlsx"),
    }


@pytest.fixture(scope="session")
def loaded_samples(sample_files: dict[str, Path]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each sample read by the engine once per session: (Dataset, summary)."""
    loaded = {}
    for name, path in sample_files.items():
        dataset = load_dataset(path)
        loaded[name] = (dataset, summarise(dataset))
    return loaded


@pytest.fixture()
async def datasets(
    redis_url: str,
    sample_files: dict[str, Path],
    loaded_samples: dict[str, tuple[Any, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Datasets]:
    """Saves the sample datasets through the real DatasetStore in the private Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    dataset_summary.reset_stores()
    store = dataset_summary.dataset_store()
    ids: dict[str, str] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for name, (dataset, summary) in loaded_samples.items():
        ids[name] = await store.save(owner=OWNER, dataset=dataset, summary=summary)
        summaries[name] = summary
    yield Datasets(**ids, summaries=summaries, files=sample_files)
    dataset_summary.reset_stores()


@pytest.fixture()
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def make_tracker(
    dataset_id: str | None,
    text: str = "",
    intent: str = "inform",
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    candidates: dict[str, Any] | None = None,
    active_loop: str | None = "tpr_form",
    sender_id: str = OWNER,
) -> Tracker:
    """A tracker as Rasa sends it: the JSON fixture, the user's message, and `candidates` as
    the trailing slot events the form appends for its validation action."""
    data = json.loads((DATA / "form_tracker.json").read_text())
    data["sender_id"] = sender_id
    data["slots"]["dataset_id"] = dataset_id
    data["slots"].update(slots or {})
    data["slots"].update(candidates or {})
    entities = entities or []
    data["latest_message"] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities,
    }
    data["events"][-1] = {
        "event": "user",
        "text": text,
        "parse_data": copy.deepcopy(data["latest_message"]),
    }
    if candidates:
        data["events"].append({"event": "action", "name": "tpr_form"})
        data["events"] += [
            {"event": "slot", "name": name, "value": value} for name, value in candidates.items()
        ]
    data["active_loop"] = {"name": active_loop} if active_loop else {}
    return Tracker(
        data["sender_id"],
        data["slots"],
        data["latest_message"],
        data["events"],
        data["paused"],
        data["followup_action"],
        data["active_loop"],
        data["latest_action_name"],
    )


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """{slot: value} of the SlotSet events (last one wins)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def loop_events(events: list[dict[str, Any]]) -> list[str | None]:
    return [e.get("name") for e in events if e.get("event") == "active_loop"]


def texts(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("text") or "" for m in dispatcher.messages]
