"""The choices a dataset offers, read from the engine's summary (see docs/architecture.md).

Every question and every validation takes its options from here, so the bot only offers states
in the file, levels present in the chosen state and age groups with data.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker

from actions.conversation.answer_matching import AGE_ORDER, LEVEL_ORDER

logger = logging.getLogger(__name__)

Summary = dict[str, Any]

_dataset_store: Any = None
_result_store: Any = None


def dataset_store() -> Any:
    """One DatasetStore per process (it keeps an in-process LRU of loaded datasets)."""
    global _dataset_store
    if _dataset_store is None:
        from actions.service.dataset_store import DatasetStore

        _dataset_store = DatasetStore.from_env()
    return _dataset_store


def result_store() -> Any:
    """One ResultFileStore per process."""
    global _result_store
    if _result_store is None:
        from actions.service.dataset_store import ResultFileStore

        _result_store = ResultFileStore.from_env()
    return _result_store


def reset_stores() -> None:
    """Forget the cached stores (tests point REDIS_URL at a private server)."""
    global _dataset_store, _result_store
    _dataset_store = None
    _result_store = None


async def load_summary_for(tracker: Tracker) -> Summary | None:
    """The summary of the sender's current dataset, or None (no dataset, expired, foreign)."""
    dataset_id = tracker.get_slot("dataset_id")
    if not dataset_id:
        return None
    from actions.service.dataset_store import DatasetNotFound

    try:
        return await dataset_store().load_summary(str(dataset_id), owner=tracker.sender_id)
    except DatasetNotFound:
        return None


def states(summary: Summary) -> list[str]:
    return list(summary.get("states") or [])


def state_info(summary: Summary, state: str | None) -> dict[str, Any]:
    if not state:
        return {}
    return dict((summary.get("by_state") or {}).get(state) or {})


def has_levels(summary: Summary) -> bool:
    return bool(summary.get("has_facility_level"))


def level_choices(summary: Summary, state: str | None) -> list[str]:
    """Levels present in the state, in the fixed order, then `all`."""
    if not has_levels(summary):
        return ["all"]
    present = state_info(summary, state).get("levels") or {}
    return [lvl for lvl in LEVEL_ORDER if lvl in present] + ["all"]


def age_choices(summary: Summary, state: str | None) -> list[str]:
    """Age groups with data in the state (`all` when any group has data)."""
    groups = state_info(summary, state).get("age_groups") or {}
    offered = [
        age for age in AGE_ORDER if age != "all" and (groups.get(age) or {}).get("available")
    ]
    if offered:
        offered.append("all")
    return offered


def recommended_level(summary: Summary, state: str | None) -> str:
    value = state_info(summary, state).get("recommended_level") or "all"
    return value if value in level_choices(summary, state) else "all"


def recommended_age(summary: Summary, state: str | None) -> str | None:
    choices = age_choices(summary, state)
    value = state_info(summary, state).get("recommended_age_group") or "u5"
    if value in choices:
        return value
    return choices[0] if choices else None
