"""A Rasa tracker store that appends events instead of rewriting the conversation.

Stock `RedisTrackerStore` reads the whole conversation, merges it in Python and writes it
all back on every turn: concurrent saves lose events and each turn costs every past
session. Here, per conversation:

- `tpr:tracker:events:{sender_id}`   list of events, each Rasa's own `event.as_dict()` JSON.
- `tpr:tracker:session:{sender_id}`  hash: `start` = index in that list of the current
                                     session's `action_session_start` (missing = 0),
                                     `save` = token of the last save (retry guard).

`save` appends only the events the tracker gained since it was loaded (one Lua script, so
the session index moves with the append); `retrieve` reads from the session index only.
Both keys expire TRACKER_RETENTION_SECONDS after the conversation's last save (0 = keep).
See docs/stores.md.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable, Sequence
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

from redis_stores._redis import RedisConnector, redis_url_from

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600

# On the tracker object: the last event known to be stored (or _NOTHING_STORED). Trackers
# loaded or created by this store carry it; `save` appends the events after it.
_STORED_MARK = "_tpr_last_stored_event"
_NOTHING_STORED = object()

# KEYS: events, session. ARGV: ttl_seconds, save token, relative index of the last session
# start among the new events (-1: none), events... -> new length. Idempotent: a retry of
# the same save (same token, e.g. after a dropped connection) appends nothing.
_APPEND = """
if redis.call('HGET', KEYS[2], 'save') == ARGV[2] then return redis.call('LLEN', KEYS[1]) end
local n = redis.call('LLEN', KEYS[1])
for i = 4, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local relative = tonumber(ARGV[3])
if relative >= 0 then redis.call('HSET', KEYS[2], 'start', n + relative) end
redis.call('HSET', KEYS[2], 'save', ARGV[2])
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

# KEYS: events, session. ARGV: 'session' | 'full' -> {start, events...} or nil.
_LOAD = """
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

_SCRIPTS = {"append": _APPEND, "load": _LOAD}


class TrackerStoreUnavailable(BaseException):  # noqa: N818 - named for what it reports
    """Redis failed while reading or saving a conversation.

    A BaseException on purpose: Rasa wraps every tracker store in `FailSafeTrackerStore`,
    whose `except Exception` turns a failed read into "new conversation" and a failed save
    into events kept only in this replica's memory. This escapes that wrapper, so the turn
    stops with nothing changed and our REST channel (deploy/rest_channel.py) answers 503.
    """


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

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._redis.run(script, keys, args)
        except (RedisError, OSError) as exc:
            raise TrackerStoreUnavailable(f"tracker store: {exc}") from exc

    def _keys(self, sender_id: str) -> list[str]:
        return [
            f"{self.key_prefix}events:{sender_id}",
            f"{self.key_prefix}session:{sender_id}",
        ]

    # --- writing --------------------------------------------------------------------

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events `tracker` gained since this store loaded or created it."""
        events = list(tracker.events)
        new_events = self._unsaved_events(tracker, events)
        if new_events is None:
            new_events = await self._not_yet_stored(tracker.sender_id, events)
        if new_events:
            if self.event_broker is not None:
                await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
            await self._run(
                "append",
                self._keys(tracker.sender_id),
                [
                    self.retention_seconds,
                    secrets.token_hex(8),
                    _last_session_start(new_events),
                    *_dump(new_events),
                ],
            )
        setattr(tracker, _STORED_MARK, events[-1] if events else _NOTHING_STORED)

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
        reply = await self._run("load", self._keys(sender_id), ["full"])
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
        reply = await self._run("load", self._keys(sender_id), [scope])
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
        return bool(await self._redis.client().exists(self._keys(conversation_id)[0]))

    async def keys(self) -> Iterable[str]:
        """Sender ids of every stored conversation."""
        prefix = f"{self.key_prefix}events:"
        found = []
        async for key in self._redis.client().scan_iter(match=f"{prefix}*", count=1000):
            found.append(key.decode()[len(prefix) :])
        return found

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


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _dump(events: Iterable[Event]) -> list[str]:
    return [json.dumps(event.as_dict(), ensure_ascii=False) for event in events]
