"""A Rasa lock store whose whole ticket protocol runs atomically inside Redis.

Stock `RedisLockStore` reads the ticket lock as JSON, changes it in Python and writes it
back: two replicas can issue the same ticket or drop each other's tickets, which serialises
nothing. Here every step (issue, poll, renew, release) is one Lua script:

- `tpr:lock:{<id>}:seq`     INCR counter: ticket order.
- `tpr:lock:{<id>}:queue`   sorted set: live tickets `"<number>:<nonce>"` scored by number.
- `tpr:lock:{<id>}:expiry`  hash: ticket -> expiry (Redis clock, ms).
- `tpr:lock:{<id>}:wake:<ticket>`  list: pushed to wake the ticket's holder.

All of a conversation's keys share one hash tag (one cluster slot), and the scripts touch
only their KEYS: a script that makes a new ticket the head returns it, and the client then
pushes to that ticket's wake list (a wake-up only saves a waiter its next poll).

The head of the queue holds the lock. Holders renew their ticket every lifetime/3 and
waiters on every poll, so a live replica never loses its turn however slow an action is,
while a dead replica's tickets expire one lifetime after its last renewal. Waiters block on
their wake list (BLPOP, at most `POLL_SECONDS`) instead of polling Redis in a loop.
See docs/stores.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, suppress
from typing import Any

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from redis_stores._redis import RedisConnector, redis_url_from

logger = logging.getLogger(__name__)

DEFAULT_LOCK_LIFETIME_SECONDS = 60.0
# Longest a waiter sleeps without asking Redis; a release wakes it at once.
POLL_SECONDS = 1.0

_PRELUDE = """
local queue, expiry, seq = KEYS[1], KEYS[2], KEYS[3]
local lifetime = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function purge()
  local removed = 0
  for _, member in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
    local expires = tonumber(redis.call('HGET', expiry, member) or '0')
    if expires <= now then
      redis.call('ZREM', queue, member)
      redis.call('HDEL', expiry, member)
      removed = removed + 1
    end
  end
  return removed
end

-- The ticket the client must wake (the head of the queue), or ''.
local function head()
  return redis.call('ZRANGE', queue, 0, 0)[1] or ''
end

local function touch()
  if redis.call('ZCARD', queue) == 0 then
    redis.call('DEL', queue, expiry)
  else
    redis.call('PEXPIRE', queue, 2 * lifetime + 1000)
    redis.call('PEXPIRE', expiry, 2 * lifetime + 1000)
  end
  redis.call('PEXPIRE', seq, 2 * lifetime + 1000)
end
"""

# ARGV: lifetime_ms, nonce -> {the new ticket "<number>:<nonce>", ticket to wake or ''}.
# Idempotent: a retry with the same nonce returns the ticket already issued.
_ISSUE = (
    _PRELUDE
    + """
local wake = ''
if purge() > 0 then wake = head() end
local suffix = ':' .. ARGV[2]
for _, existing in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
  if string.sub(existing, -#suffix) == suffix then return {existing, wake} end
end
local number = redis.call('INCR', seq)
local member = number .. ':' .. ARGV[2]
redis.call('ZADD', queue, number, member)
redis.call('HSET', expiry, member, now + lifetime)
touch()
return {member, wake}
"""
)

# ARGV: lifetime_ms, ticket -> {1 holds the lock | 0 must wait | -1 ticket expired, wake}.
# Renews the ticket either way (waiters and holders both prove they are alive).
_POLL = (
    _PRELUDE
    + """
local member = ARGV[2]
local wake = ''
if purge() > 0 then wake = head() end
if redis.call('HEXISTS', expiry, member) == 0 then
  touch()
  return {-1, wake}
end
redis.call('HSET', expiry, member, now + lifetime)
touch()
if head() == member then return {1, ''} end
return {0, wake}
"""
)

# ARGV: lifetime_ms, ticket ('' only sweeps expired tickets) -> {live tickets left, wake}.
_RELEASE = (
    _PRELUDE
    + """
local member = ARGV[2]
local was_head = head() == member
if member ~= '' then
  redis.call('ZREM', queue, member)
  redis.call('HDEL', expiry, member)
end
local wake = ''
if purge() > 0 or was_head then wake = head() end
touch()
return {redis.call('ZCARD', queue), wake}
"""
)

_SCRIPTS = {"issue": _ISSUE, "poll": _POLL, "release": _RELEASE}


def lock_lifetime_from_env() -> float:
    value = os.environ.get("LOCK_LIFETIME_SECONDS", "").strip()
    return float(value) if value else DEFAULT_LOCK_LIFETIME_SECONDS


class AtomicRedisLockStore(LockStore):
    """Ticket lock per conversation, atomic in Redis, shared by any number of replicas.

    Rasa creates it as `AtomicRedisLockStore(endpoint_config=...)` from endpoints.yml
    (`type: redis_stores.lock_store.AtomicRedisLockStore`, `url: ${REDIS_URL}`); tests and
    tools may pass `url=` directly.
    """

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        url: str | None = None,
        lock_lifetime: float | None = None,
        key_prefix: str = "tpr:lock:",
        socket_timeout: float | None = None,
        **_: Any,
    ) -> None:
        kwargs = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.url = redis_url_from(url or (endpoint_config.url if endpoint_config else None))
        lifetime = lock_lifetime or kwargs.get("lock_lifetime") or lock_lifetime_from_env()
        self.lock_lifetime = float(lifetime)
        self.key_prefix = str(kwargs.get("key_prefix", key_prefix))
        timeout = socket_timeout or kwargs.get("socket_timeout")
        options = {"socket_timeout": float(timeout)} if timeout else {}
        self._redis = RedisConnector(self.url, _SCRIPTS, **options)
        # Releases that failed (Redis down) and are retried until the ticket would expire.
        self._pending: set[asyncio.Task] = set()
        super().__init__()

    # --- keys -------------------------------------------------------------------------

    def _keys(self, conversation_id: str) -> list[str]:
        """The scripts' KEYS (queue, expiry, seq), then the wake lists' prefix."""
        base = f"{self.key_prefix}{{{conversation_id}}}:"
        return [f"{base}queue", f"{base}expiry", f"{base}seq", f"{base}wake:"]

    async def _run(self, script: str, conversation_id: str, args: list[Any]) -> Any:
        """Run a protocol script; wake the ticket it names (best effort: a waiter that is
        not woken finds out at its next poll, at most POLL_SECONDS later)."""
        keys = self._keys(conversation_id)
        value, wake = await self._redis.run(script, keys[:3], args)
        if wake:
            wake_key = keys[3] + (wake.decode() if isinstance(wake, bytes) else str(wake))
            lifetime_ms = int(args[0])
            with suppress(Exception):
                await self._redis.pipeline(
                    lambda pipe: (pipe.lpush(wake_key, "1"), pipe.pexpire(wake_key, lifetime_ms))
                )
        return value

    def _run_sync(self, script: str, conversation_id: str, args: list[Any]) -> Any:
        keys = self._keys(conversation_id)
        value, wake = self._redis.run_sync(script, keys[:3], args)
        if wake:
            wake_key = keys[3] + (wake.decode() if isinstance(wake, bytes) else str(wake))
            with suppress(Exception):
                client = self._redis.sync_client()
                client.lpush(wake_key, "1")
                client.pexpire(wake_key, int(args[0]))
        return value

    def _lifetime_ms(self, lifetime: float | None) -> int:
        return max(1, int((lifetime if lifetime is not None else self.lock_lifetime) * 1000))

    # --- the protocol (async, what Rasa uses) -----------------------------------------

    async def issue(self, conversation_id: str, lifetime: float | None = None) -> str:
        """Append a ticket to the conversation's queue; returns its id `<number>:<nonce>`."""
        member = await self._run(
            "issue", conversation_id, [self._lifetime_ms(lifetime), secrets.token_hex(8)]
        )
        return member.decode() if isinstance(member, bytes) else str(member)

    async def poll(self, conversation_id: str, ticket: str, lifetime: float | None = None) -> int:
        """Renew `ticket`; 1 when it is at the head of the queue, 0 to wait, -1 expired."""
        return int(await self._run("poll", conversation_id, [self._lifetime_ms(lifetime), ticket]))

    async def release(
        self, conversation_id: str, ticket: str, lifetime: float | None = None
    ) -> int:
        """Remove `ticket` and wake the next in line; returns how many tickets remain."""
        return int(
            await self._run("release", conversation_id, [self._lifetime_ms(lifetime), ticket])
        )

    async def wait_for_turn(
        self,
        conversation_id: str,
        ticket: str,
        lifetime: float | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        """Block (without busy polling) until `ticket` heads the queue."""
        wake_key = self._keys(conversation_id)[3] + ticket
        while True:
            state = await self.poll(conversation_id, ticket, lifetime)
            if state == 1:
                return
            if state == -1:
                raise LockError(
                    f"Ticket for conversation '{conversation_id}' expired while waiting."
                )
            # Woken at once by the releaser; otherwise re-check (and renew) after a while.
            await self._redis.client().blpop([wake_key], timeout=poll_seconds)

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float | None = None,
        wait_time_in_seconds: float = POLL_SECONDS,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock: strictly one holder at a time, in ticket order.

        Rasa calls `lock(sender_id)`; the lifetime then comes from LOCK_LIFETIME_SECONDS.
        """
        lifetime = self.lock_lifetime if lock_lifetime is None else float(lock_lifetime)
        ticket = await self.issue(conversation_id, lifetime)
        renewer: asyncio.Task | None = None
        try:
            await self.wait_for_turn(
                conversation_id, ticket, lifetime, min(wait_time_in_seconds, POLL_SECONDS)
            )
            renewer = asyncio.create_task(self._renew(conversation_id, ticket, lifetime))
            number = int(ticket.split(":", 1)[0])
            yield TicketLock(conversation_id, deque([Ticket(number, time.time() + lifetime)]))
        finally:
            if renewer is not None:
                renewer.cancel()
            await self._release_or_retry(conversation_id, ticket, lifetime)

    async def _renew(self, conversation_id: str, ticket: str, lifetime: float) -> None:
        """Keep a live holder's ticket from expiring, however long the turn takes."""
        while True:
            await asyncio.sleep(lifetime / 3)
            try:
                if await self.poll(conversation_id, ticket, lifetime) != 1:
                    logger.warning(
                        "Lock for conversation '%s' was lost (ticket expired).", conversation_id
                    )
                    return
            except Exception as error:  # noqa: BLE001 - Redis down: try again later
                logger.warning("Could not renew lock for '%s': %s", conversation_id, error)

    async def _release_or_retry(self, conversation_id: str, ticket: str, lifetime: float) -> None:
        try:
            await asyncio.shield(self.release(conversation_id, ticket, lifetime))
            return
        except Exception as error:  # noqa: BLE001 - never mask the turn's own outcome
            logger.warning(
                "Could not release lock for '%s' (%s); retrying in the background.",
                conversation_id,
                error,
            )
        task = asyncio.get_running_loop().create_task(
            self._retry_release(conversation_id, ticket, lifetime)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _retry_release(self, conversation_id: str, ticket: str, lifetime: float) -> None:
        """Release as soon as Redis is back (e.g. restarted with AOF), so the next message
        does not wait for the ticket to expire; after one lifetime it has expired anyway."""
        deadline = time.monotonic() + lifetime
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            with suppress(Exception):
                await self.release(conversation_id, ticket, lifetime)
                return

    # --- Rasa's synchronous LockStore API (introspection and compatibility) ------------

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """A snapshot of the live tickets (read-only; the protocol never uses it)."""
        self.update_lock(conversation_id)
        keys = self._keys(conversation_id)
        client = self._redis.sync_client()
        members = client.zrange(keys[0], 0, -1, withscores=True)
        if not members:
            return None
        expiries = client.hgetall(keys[1])
        tickets = deque(
            Ticket(int(score), int(expiries.get(member, b"0")) / 1000) for member, score in members
        )
        return TicketLock(conversation_id, tickets)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float | None = None) -> int:
        member = self._run_sync(
            "issue", conversation_id, [self._lifetime_ms(lock_lifetime), secrets.token_hex(8)]
        )
        return int(member.split(b":", 1)[0])

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        keys = self._keys(conversation_id)
        client = self._redis.sync_client()
        for member in client.zrangebyscore(keys[0], ticket_number, ticket_number):
            self._run_sync("release", conversation_id, [self._lifetime_ms(None), member])

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets."""
        self._run_sync("release", conversation_id, [self._lifetime_ms(None), ""])

    def is_someone_waiting(self, conversation_id: str) -> bool:
        return self._run_sync("release", conversation_id, [self._lifetime_ms(None), ""]) > 0

    def delete_lock(self, conversation_id: str) -> None:
        keys = self._keys(conversation_id)
        deleted = self._redis.sync_client().delete(*keys[:3])
        self._log_deletion(conversation_id, bool(deleted))

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError(
            "AtomicRedisLockStore changes tickets only through its Lua scripts."
        )

    async def close(self) -> None:
        await self._redis.close()
