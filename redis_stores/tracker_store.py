"""A Rasa tracker store that appends events instead of rewriting the conversation.

Stock `RedisTrackerStore` reads the whole conversation, merges it in Python and writes it
all back on every turn: concurrent saves lose events and each turn costs every past
session. Here, per conversation (one hash tag, so both keys share a cluster slot):

- `tpr:tracker:{sender_id}:events`   list of events, each Rasa's own `event.as_dict()` JSON.
- `tpr:tracker:{sender_id}:session`  hash: `start` = index in that list of the current
                                     session's `action_session_start` (missing = 0),
                                     `save` = token of the last save (retry guard),
                                     `prev_len`/`prev_start` = state before it (undo).

`save` appends only the events the tracker gained since it was loaded (one Lua script, so
the session index moves with the append); `retrieve` reads from the session index only.
Both keys expire TRACKER_RETENTION_SECONDS after the conversation's last save (0 = keep).
With REDIS_MIN_REPLICAS_ACK=N a save counts only once N replicas confirm it (WAIT); if they
do not, the append is undone and the save fails, and the REST channel answers 503.

Conversations stored before the hash tags (`tpr:tracker:events:<id>`,
`tpr:tracker:session:<id>`) move to the new names atomically on first access (single
server and Sentinel), or all at once with `migrate_legacy_keys()` (any mode, also before
copying data into a cluster). See docs/stores.md.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import rasa.shared.utils.common
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from redis.exceptions import RedisError

from redis_stores._redis import NotReplicated, RedisConnector, redis_url_from

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600

# On the tracker object: the last event known to be stored (or _NOTHING_STORED). Trackers
# loaded or created by this store carry it; `save` appends the events after it.
_STORED_MARK = "_tpr_last_stored_event"
_NOTHING_STORED = object()

# With 4 KEYS (single server, Sentinel): KEYS[3], KEYS[4] are the conversation's keys under
# the names used before hash tags; they move to KEYS[1], KEYS[2] once, atomically (a no-op
# when the new list exists or nothing old is left, so every caller may run it).
_MIGRATE_PRELUDE = """
if #KEYS == 4 and redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[1])
  redis.call('DEL', KEYS[2])
  if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
end
"""

# KEYS: events, session[, legacy events, legacy session]. ARGV: ttl_seconds, save token,
# relative index of the last session start among the new events (-1: none), events...
# -> new length. Idempotent: a retry of the same save (same token, e.g. after a dropped
# connection) appends nothing.
_APPEND = (
    _MIGRATE_PRELUDE
    + """
if redis.call('HGET', KEYS[2], 'save') == ARGV[2] then return redis.call('LLEN', KEYS[1]) end
local n = redis.call('LLEN', KEYS[1])
local previous_start = redis.call('HGET', KEYS[2], 'start') or ''
for i = 4, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local relative = tonumber(ARGV[3])
if relative >= 0 then redis.call('HSET', KEYS[2], 'start', n + relative) end
redis.call('HSET', KEYS[2], 'save', ARGV[2], 'prev_len', n, 'prev_start', previous_start)
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
return redis.call('LLEN', KEYS[1])
"""
)

# KEYS: events, session. ARGV: save token -> 1 when that save (still the last one) was
# undone, 0 otherwise. For a save the replicas did not confirm: nothing is half-stored.
_UNDO = """
if redis.call('HGET', KEYS[2], 'save') ~= ARGV[1] then return 0 end
local previous = tonumber(redis.call('HGET', KEYS[2], 'prev_len') or '-1')
if previous < 0 then return 0 end
if previous == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('LTRIM', KEYS[1], 0, previous - 1)
end
local start = redis.call('HGET', KEYS[2], 'prev_start')
if start and start ~= '' then
  redis.call('HSET', KEYS[2], 'start', start)
else
  redis.call('HDEL', KEYS[2], 'start')
end
redis.call('HDEL', KEYS[2], 'save', 'prev_len', 'prev_start')
return 1
"""

# KEYS: events, session[, legacy events, legacy session]. ARGV: 'session' | 'full'
# -> {start, events...} or nil.
_LOAD = (
    _MIGRATE_PRELUDE
    + """
local length = redis.call('LLEN', KEYS[1])
if length == 0 then return false end
local start = 0
if ARGV[1] == 'session' then
  start = tonumber(redis.call('HGET', KEYS[2], 'start') or '0')
  if start >= length then start = 0 end
end
local reply = redis.call('LRANGE', KEYS[1], start, -1)
table.insert(reply, 1, start)
return reply
"""
)

# KEYS: new events, new session, legacy events, legacy session (single server or Sentinel)
# -> 1 moved, 0 nothing under the legacy names, -1 both exist (left for the operator).
_MIGRATE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('RENAME', KEYS[3], KEYS[1])
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
return 1
"""

_SCRIPTS = {"append": _APPEND, "load": _LOAD, "undo": _UNDO, "migrate": _MIGRATE}


@dataclass(frozen=True)
class StoreError:
    """One tracker store call that failed during a turn."""

    sender_id: str  # "" for the whole turn (a failed custom action)
    operation: str  # "load" | "save" | "action"
    error: BaseException


# The tracker store calls that failed during one turn (see `watching_store_errors`).
_turn_errors: ContextVar[list[StoreError] | None] = ContextVar("tpr_turn_errors", default=None)


class ConversationNotLoaded(RedisError):
    """A save refused because loading the same conversation (or a custom action) failed
    earlier in the turn."""


@contextmanager
def watching_store_errors() -> Iterator[list[StoreError]]:
    """Collect the tracker loads and saves that fail while the block runs (in this task and
    the tasks it starts). Rasa's FailSafeTrackerStore swallows them: a failed load makes
    Rasa treat the conversation as new, a failed save keeps the turn in memory only, and a
    failed custom action (see `watch_failed_actions`) loses the action's events. Inside the
    block such a turn is not saved at all (it ran on an empty tracker, or without the
    action's slots), and the REST channel answers 503: the client's retry finds the
    conversation as it was."""
    errors: list[StoreError] = []
    token = _turn_errors.set(errors)
    try:
        yield errors
    finally:
        _turn_errors.reset(token)


def _record_error(sender_id: str, operation: str, error: BaseException) -> None:
    errors = _turn_errors.get()
    if errors is not None:
        errors.append(StoreError(sender_id, operation, error))


def _turn_is_broken(sender_id: str) -> bool:
    """A load of this conversation or a custom action failed in this turn: what Rasa would
    save now is a turn run on an empty tracker, or without the action's events."""
    return any(
        e.sender_id in (sender_id, "") and e.operation in ("load", "action")
        for e in _turn_errors.get() or []
    )


class _FailedActionRecorder(logging.Handler):
    """Rasa's processor logs a failed custom action (e.g. the action server could not reach
    Redis in a failover) and goes on without the action's events: a form would lose the
    slots the user just gave, and the turn would still be answered. Inside
    `watching_store_errors` that log record marks the turn as failed."""

    MESSAGE = "Encountered an exception while running action"

    def emit(self, record: logging.LogRecord) -> None:
        if _turn_errors.get() is not None and record.getMessage().startswith(self.MESSAGE):
            error = record.exc_info[1] if record.exc_info else None
            _record_error("", "action", error or RuntimeError(record.getMessage()))


def watch_failed_actions() -> None:
    """Install the recorder on Rasa's processor logger (once per process)."""
    processor_logger = logging.getLogger("rasa.core.processor")
    if not any(isinstance(h, _FailedActionRecorder) for h in processor_logger.handlers):
        processor_logger.addHandler(_FailedActionRecorder(logging.ERROR))


def retention_from_env() -> int:
    value = os.environ.get("TRACKER_RETENTION_SECONDS", "").strip()
    return int(value) if value else DEFAULT_RETENTION_SECONDS


def _is_session_start(event: Event) -> bool:
    return isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME


def _last_session_start(events: Sequence[Event]) -> int:
    for index in range(len(events) - 1, -1, -1):
        if _is_session_start(events[index]):
            return index
    return -1


class AppendOnlyRedisTrackerStore(TrackerStore):
    """Append-only event lists in Redis; loads cost the current session only.

    Rasa creates it as `AppendOnlyRedisTrackerStore(host=<url>, domain=..., event_broker=...,
    **kwargs)` from endpoints.yml (`type: redis_stores.tracker_store.AppendOnlyRedisTrackerStore`,
    `url: ${REDIS_URL}`). Optional keys: `retention_seconds` (or `record_exp`),
    `key_prefix`, `socket_timeout`.
    """

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        url: str | None = None,
        retention_seconds: int | None = None,
        record_exp: float | None = None,
        key_prefix: str = "tpr:tracker:",
        socket_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.url = redis_url_from(url or host)
        if retention_seconds is None:
            retention_seconds = int(record_exp) if record_exp else retention_from_env()
        self.retention_seconds = int(retention_seconds)
        self.key_prefix = key_prefix
        options = {"socket_timeout": float(socket_timeout)} if socket_timeout else {}
        self._redis = RedisConnector(self.url, _SCRIPTS, **options)
        super().__init__(domain, event_broker, **kwargs)

    def _keys(self, sender_id: str) -> list[str]:
        """The conversation's keys (one hash tag: one cluster slot), plus, except on a
        cluster, its keys under the legacy names, which the scripts migrate on first use."""
        keys = [
            f"{self.key_prefix}{{{sender_id}}}:events",
            f"{self.key_prefix}{{{sender_id}}}:session",
        ]
        if not self._redis.is_cluster:
            keys += self._legacy_keys(sender_id)
        return keys

    def _legacy_keys(self, sender_id: str) -> list[str]:
        return [f"{self.key_prefix}events:{sender_id}", f"{self.key_prefix}session:{sender_id}"]

    # --- writing --------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events `tracker` gained since this store loaded or created it."""
        if _turn_is_broken(tracker.sender_id):
            error = ConversationNotLoaded(
                f"conversation '{tracker.sender_id}' not saved: loading it or one of its "
                "actions failed in this turn"
            )
            _record_error(tracker.sender_id, "save", error)
            raise error
        events = list(tracker.events)
        new_events = self._unsaved_events(tracker, events)
        if new_events is None:
            new_events = await self._not_yet_stored(tracker.sender_id, events)
        if new_events:
            if self.event_broker is not None:
                await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
            try:
                await self._append(tracker.sender_id, new_events)
            except Exception as error:
                _record_error(tracker.sender_id, "save", error)
                raise
        setattr(tracker, _STORED_MARK, events[-1] if events else _NOTHING_STORED)

    async def _append(self, sender_id: str, new_events: Sequence[Event]) -> None:
        """One atomic append; with REDIS_MIN_REPLICAS_ACK, confirmed by the replicas or
        undone (then NotReplicated: the caller must not acknowledge the turn)."""
        keys = self._keys(sender_id)
        token = secrets.token_hex(8)
        args = [self.retention_seconds, token, _last_session_start(new_events)]
        try:
            await self._redis.run_durable("append", keys, [*args, *_dump(new_events)])
        except NotReplicated as error:
            try:
                await self._redis.run("undo", keys[:2], [token])
            except Exception as undo_error:  # noqa: BLE001 - report the first failure
                logger.error(
                    "Could not undo the unconfirmed save of '%s': %s", sender_id, undo_error
                )
            logger.error("Save of '%s' not acknowledged (%s): undone.", sender_id, error)
            raise

    @staticmethod
    def _unsaved_events(
        tracker: DialogueStateTracker, events: Sequence[Event]
    ) -> list[Event] | None:
        """Events after the last stored one; None when the tracker was not loaded here."""
        mark = getattr(tracker, _STORED_MARK, None)
        if mark is None:
            return None
        if mark is _NOTHING_STORED:
            return list(events)
        for index in range(len(events) - 1, -1, -1):
            if events[index] is mark:
                return list(events[index + 1 :])
        return None  # e.g. max_event_history dropped the mark: compare contents

    async def _not_yet_stored(self, sender_id: str, events: Sequence[Event]) -> list[Event]:
        """For a tracker this store did not load: its events that are not stored yet, by
        content (Rasa's own rule: `as_dict()` equality). Never deletes anything, so a
        tracker built from scratch cannot wipe a conversation, e.g. the empty one Rasa's
        FailSafeTrackerStore creates after a failed retrieve. PUT .../tracker/events
        therefore appends rather than overrides (stock RedisTrackerStore merges too)."""
        if not events:
            return []
        reply = await self._redis.run("load", self._keys(sender_id), ["full"])
        stored = {_canonical(json.loads(raw)) for raw in (reply or [])[1:]}
        return [event for event in events if _canonical(event.as_dict()) not in stored]

    async def create_tracker(
        self, sender_id: str, append_action_listen: bool = True
    ) -> DialogueStateTracker:
        """A new tracker whose every event counts as unsaved (appended, never rewritten)."""
        tracker = self.init_tracker(sender_id)
        setattr(tracker, _STORED_MARK, _NOTHING_STORED)
        if append_action_listen:
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
        await self.save(tracker)
        return tracker

    # --- reading --------------------------------------------------------------------

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The current session only (from its `action_session_start`), like stock stores."""
        return await self._load(sender_id, "session")

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every session of the conversation."""
        return await self._load(conversation_id, "full")

    async def _load(self, sender_id: str, scope: str) -> DialogueStateTracker | None:
        try:
            reply = await self._redis.run("load", self._keys(sender_id), [scope])
        except Exception as error:
            _record_error(sender_id, "load", error)
            raise
        if not reply:
            logger.debug("Could not find tracker for conversation ID '%s'.", sender_id)
            return None
        events = [
            event for event in (_event_from_json(raw) for raw in reply[1:]) if event is not None
        ]
        tracker = self.init_tracker(sender_id)
        tracker.recreate_from_dialogue(Dialogue(sender_id, events))
        setattr(tracker, _STORED_MARK, tracker.events[-1] if tracker.events else _NOTHING_STORED)
        return tracker

    async def exists(self, conversation_id: str) -> bool:
        keys = self._keys(conversation_id)
        return any([await self._redis.client().exists(key) for key in keys[::2]])

    async def keys(self) -> Iterable[str]:
        """Sender ids of every stored conversation (on a cluster: of every primary),
        including those still under the legacy key names."""
        client = self._redis.client()
        found: dict[str, None] = {}
        tagged = f"{self.key_prefix}{{"
        async for key in client.scan_iter(match=f"{_glob(tagged)}*}}:events", count=1000):
            found[key.decode()[len(tagged) : -len("}:events")]] = None
        legacy = f"{self.key_prefix}events:"
        async for key in client.scan_iter(match=f"{_glob(legacy)}*", count=1000):
            found[key.decode()[len(legacy) :]] = None
        return list(found)

    async def migrate_legacy_keys(self) -> dict[str, int]:
        """Move every conversation still under the legacy key names to the new ones, once
        and idempotently: {"moved": n, "kept_both": n}. Atomic per conversation on one
        server or Sentinel; on a cluster (legacy names live in other slots) each list and
        hash is copied with DUMP/RESTORE (TTL kept) before the legacy key is deleted."""
        client = self._redis.client()
        legacy = f"{self.key_prefix}events:"
        senders = [
            key.decode()[len(legacy) :]
            async for key in client.scan_iter(match=f"{_glob(legacy)}*", count=1000)
        ]
        counts = {"moved": 0, "kept_both": 0}
        for sender in senders:
            new_keys = self._keys(sender)[:2]
            old_keys = self._legacy_keys(sender)
            if self._redis.is_cluster:
                outcome = await self._copy_across_slots(client, new_keys, old_keys)
            else:
                outcome = int(await self._redis.run("migrate", [*new_keys, *old_keys], []))
            if outcome == 1:
                counts["moved"] += 1
            elif outcome == -1:
                counts["kept_both"] += 1
        return counts

    @staticmethod
    async def _copy_across_slots(client: Any, new_keys: list[str], old_keys: list[str]) -> int:
        if await client.exists(new_keys[0]):
            return -1
        for new, old in zip(new_keys, old_keys, strict=True):
            dumped = await client.dump(old)
            if dumped is None:
                continue
            ttl = max(0, int(await client.pttl(old)))
            await client.restore(new, ttl, dumped, replace=True)
        await client.delete(*old_keys)
        return 1

    async def close(self) -> None:
        await self._redis.close()


_event_classes: dict[str, type[Event]] = {}


def _event_from_json(raw: bytes) -> Event | None:
    """`Event.from_parameters`, minus its scan of every Event subclass per event (half of
    the load time of a long session). Same class choice: the first subclass by type name."""
    parameters = json.loads(raw)
    cls = _event_classes.get(parameters.get("event"))
    if cls is None:
        for subclass in rasa.shared.utils.common.all_subclasses(Event):
            _event_classes.setdefault(subclass.type_name, subclass)
        cls = _event_classes.get(parameters.get("event"))
        if cls is None:  # unknown or legacy names: Rasa's own rules
            return Event.from_parameters(parameters)
    return cls._from_parameters(parameters)


def _glob(text: str) -> str:
    """`text` as a literal in a Redis SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _dump(events: Iterable[Event]) -> list[str]:
    return [json.dumps(event.as_dict(), ensure_ascii=False) for event in events]
