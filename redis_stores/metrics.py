"""Metrics of the Redis-backed stores (shared by the Rasa replicas and the action server),
the log name of a conversation, and what one turn did (interfaces.md "Operations").
prometheus-client's default registry: each process exposes what it imported at `/metrics`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics

# No `_created` series: they double the exposition and no figure or alert uses them.
disable_created_metrics()

REDIS_ERRORS = Counter(
    "tpr_redis_errors",
    "Failed Redis calls, by store (tracker, lock, replies, datasets, results, tus, other).",
    ["store"],
)

# Seconds: from asking for the conversation's lock to holding it (or giving up). Mostly ~1 ms;
# seconds when messages of one conversation race (a double click, a retry).
LOCK_WAIT = Histogram(
    "tpr_lock_wait_seconds",
    "Time spent waiting for the conversation's lock.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def conversation_hash(sender_id: str) -> str:
    """What logs show instead of a sender id: the first 16 hex digits of its SHA-256. An
    operator finds one conversation's lines with
    `printf %s "$SENDER" | sha256sum | cut -c1-16` (README, "Operating the stack")."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


# --- what one turn did (filled by the tracker store, read by the REST channel) ------------


@dataclass
class TurnRecord:
    """What the tracker store saw of the turn the REST channel is processing: the JSON turn
    log and `tpr_generic_replies_total` are built from it, so nothing extra is read from
    Redis. Never holds message text or slot values other than `requested_slot`."""

    loaded: bool = False
    requested_slot_before: str | None = None
    active_loop_before: str | None = None
    requested_slot_after: str | None = None
    active_loop_after: str | None = None
    intent: str | None = None
    actions: list[str] = field(default_factory=list)


current_turn: ContextVar[TurnRecord | None] = ContextVar("tpr_current_turn", default=None)


def note_loaded(tracker: Any) -> None:
    """The conversation as the turn found it (the first load of the turn counts)."""
    record = current_turn.get()
    if record is None or record.loaded:
        return
    record.loaded = True
    if tracker is None:  # a new conversation
        return
    record.requested_slot_before = _text_or_none(tracker.get_slot("requested_slot"))
    record.active_loop_before = tracker.active_loop_name


def note_saved(tracker: Any, new_events: Sequence[Any]) -> None:
    """The events the turn added, and where the conversation stands after it."""
    record = current_turn.get()
    if record is None:
        return
    # Imported here: the action server imports this module too, and never needs Rasa.
    from rasa.shared.core.events import ActionExecuted, UserUttered  # noqa: PLC0415

    for event in new_events:
        if isinstance(event, UserUttered):
            record.intent = event.intent_name
        elif isinstance(event, ActionExecuted) and event.action_name:
            record.actions.append(event.action_name)
    record.requested_slot_after = _text_or_none(tracker.get_slot("requested_slot"))
    record.active_loop_after = tracker.active_loop_name


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
