"""What a Rasa replica tells its operators: Prometheus metrics at `GET /metrics` on the
replica's own port, and one JSON line per message in its log (interfaces.md "Operations").

- The REST channel (deploy/rest_channel.py) times every message with `observe_message`, which
  counts `tpr_messages_total{outcome}`, observes `tpr_message_seconds`, decides whether the
  reply was generic (`tpr_generic_replies_total`) and writes the JSON turn line.
- What the turn did comes from the tracker store (`redis_stores.metrics.TurnRecord`): no
  extra Redis read, no message text, no slot values.
- `MetricsInput` is an input channel whose only route is `/metrics`: Rasa mounts channels at
  `urljoin("/webhooks/", url_prefix())`, so the prefix "/metrics" puts it at the root.
  credentials.yml lists it as `deploy.replica_metrics.MetricsInput:`.
- TPR_OBSERVABILITY=off turns the per-message counting and the JSON lines off (the
  benchmark's baseline, bench/turns.py); `/metrics` still answers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from redis_stores.metrics import TurnRecord, conversation_hash, current_turn

OUTCOMES = ("ok", "unavailable", "duplicate")
DEFAULT_FALLBACK_ACTIONS = frozenset({"action_default_fallback", "utter_default"})

MESSAGES = Counter(
    "tpr_messages", "User messages received by this replica, by outcome.", ["outcome"]
)
MESSAGE_SECONDS = Histogram(
    "tpr_message_seconds",
    "Receipt to reply, per message.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300),
)
GENERIC_REPLIES = Counter(
    "tpr_generic_replies",
    "Replies that ignored where the conversation stands (a default fallback, or a reply "
    "inside the form that does not ask the pending question again). Must stay 0.",
)
for _outcome in OUTCOMES:  # every series exists from the start (rate() and alerts need it)
    MESSAGES.labels(outcome=_outcome)

turn_logger = logging.getLogger("tpr.turns")


def observability_on() -> bool:
    return os.environ.get("TPR_OBSERVABILITY", "on").strip().lower() not in ("off", "0", "false")


def replica_name() -> str:
    """TPR_REPLICA (deploy/stack.py sets rasa-1, rasa-2, ...), else the host name."""
    return os.environ.get("TPR_REPLICA") or socket.gethostname()


def _configure_turn_logger() -> None:
    """JSON lines go to stderr as they are (the replica's log file under var/log/), never
    through Rasa's formatter, and at INFO whatever level Rasa's own loggers use."""
    if turn_logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    turn_logger.addHandler(handler)
    turn_logger.setLevel(logging.INFO)
    turn_logger.propagate = False


def is_generic(record: TurnRecord) -> bool:
    """A reply that ignored where the conversation stands (interfaces.md):

    - a default fallback ran; or
    - a question is pending after the turn (a form active, or `requested_slot` set) but the
      form was not the last action to run: the form asks its question each time it runs, so
      the analyst's last reply was something else (navigation actions and the contextual
      reply hand back to the form, which then asks); or
    - the form was active before the turn and was left by a response (`utter_*`) or one of
      Rasa's own actions (e.g. a rule's `action_deactivate_loop`) rather than by the form
      completing or by one of our actions that say what happens next (cancel, restart).
    """
    if DEFAULT_FALLBACK_ACTIONS.intersection(record.actions):
        return True
    ran = [name for name in record.actions if name != "action_listen"]
    last = ran[-1] if ran else None
    if record.active_loop_after is not None or record.requested_slot_after is not None:
        return last is None or last != record.active_loop_after
    if record.active_loop_before is not None:
        return last is None or last.startswith("utter_") or last in _rasa_default_actions()
    return False


def _rasa_default_actions() -> frozenset[str]:
    from rasa.shared.core.constants import DEFAULT_ACTION_NAMES  # noqa: PLC0415

    return frozenset(DEFAULT_ACTION_NAMES)


def turn_line(
    record: TurnRecord, sender_id: str, message_id: str | None, outcome: str, seconds: float
) -> str:
    """The JSON turn log line (interfaces.md): no text, no data, the sender id hashed."""
    return json.dumps(
        {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "replica": replica_name(),
            "conversation": conversation_hash(sender_id or ""),
            "message_id": message_id,
            "intent": record.intent,
            "requested_slot_before": record.requested_slot_before,
            "requested_slot_after": record.requested_slot_after,
            "actions": record.actions,
            "ms": round(seconds * 1000, 1),
            "outcome": outcome,
            "generic": is_generic(record) if outcome == "ok" else False,
        },
        separators=(",", ":"),
    )


class MessageObservation:
    """One message from receipt to reply: `start` it when the request arrives (in the
    request's task, before Rasa runs, so the tracker store fills its `TurnRecord`), set
    `outcome` as it becomes known, `finish` it once when the reply is out."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()
        self.outcome = "unavailable"
        self.record = TurnRecord()
        self.sender_id = ""
        self.message_id: str | None = None
        self.finished = False

    @classmethod
    def start(cls) -> MessageObservation:
        observation = cls(observability_on())
        if observation.enabled:
            # Sanic runs each request in its own task: the value dies with it.
            current_turn.set(observation.record)
        return observation

    def identify(self, sender_id: str | None, message_id: str | None) -> None:
        self.sender_id = sender_id or ""
        self.message_id = message_id

    def describe(self) -> str:
        """How our own log lines name the message (never the sender id itself)."""
        text = f"conversation {conversation_hash(self.sender_id)}"
        return f"{text} message {self.message_id}" if self.message_id else text

    def finish(self, outcome: str | None = None) -> None:
        """Count, time and log the message (once; later calls do nothing)."""
        if self.finished:
            return
        self.finished = True
        if outcome is not None:
            self.outcome = outcome
        if not self.enabled:
            return
        seconds = time.perf_counter() - self.started
        if self.outcome not in OUTCOMES:
            self.outcome = "unavailable"
        MESSAGES.labels(outcome=self.outcome).inc()
        MESSAGE_SECONDS.observe(seconds)
        if self.outcome == "ok" and is_generic(self.record):
            GENERIC_REPLIES.inc()
        _configure_turn_logger()
        turn_logger.info(
            turn_line(self.record, self.sender_id, self.message_id, self.outcome, seconds)
        )


def metrics_response() -> HTTPResponse:
    """This process's metrics in the Prometheus text format (prometheus-client's own)."""
    return response.raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)


class MetricsInput(InputChannel):
    """Not a chat channel: serves `GET /metrics` on the replica's own port."""

    @classmethod
    def name(cls) -> str:
        return "metrics"

    def url_prefix(self) -> str:
        return "/metrics"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> MetricsInput:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        metrics = Blueprint("tpr_replica_metrics", __name__)

        @metrics.route("", methods=["GET"])
        async def serve(_: Request) -> HTTPResponse:
            return metrics_response()

        return metrics
