"""Redis connections shared by our Rasa stores: fail fast, recover by themselves, and run
Lua scripts on a client that belongs to the calling event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.exceptions import ConnectionError as RedisConnectionError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# A replica must answer 5xx within a few seconds when Redis is gone, never hang: every
# connect and every reply is bounded, and nothing retries in a loop. A later command opens a
# new connection, so the stores recover as soon as Redis is back. A connection error (not a
# timeout) is retried once on a fresh connection: after a Redis restart the pooled
# connections are dead, and without it the first command on each would fail (and Rasa's
# FailSafeTrackerStore would then treat the conversation as new). Every script is idempotent
# under that retry.
CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 2.0


def redis_url_from(url: str | None) -> str:
    """The configured URL (endpoints.yml `url`), else REDIS_URL, else the local default."""
    if url and not url.startswith("${"):
        if "://" not in url:  # Rasa's stock stores take a bare host name
            return f"redis://{url}:6379/0"
        return url
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


class RedisConnector:
    """Per-event-loop redis.asyncio clients (a connection belongs to the loop that opened
    it), a lazily created blocking client for Rasa's synchronous APIs, and named Lua scripts
    run with EVALSHA (reloaded automatically after a Redis restart)."""

    def __init__(
        self,
        url: str,
        scripts: dict[str, str] | None = None,
        socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        self._sources = dict(scripts or {})
        self._loops: dict[
            int, tuple[asyncio.AbstractEventLoop, aioredis.Redis, dict[str, AsyncScript]]
        ] = {}
        self._sync: tuple[redis.Redis, dict[str, Script]] | None = None

    def _options(self, asynchronous: bool) -> dict[str, Any]:
        retry_class = redis.asyncio.retry.Retry if asynchronous else redis.retry.Retry
        return {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.socket_timeout,
            "retry_on_timeout": False,
            "retry_on_error": [RedisConnectionError],
            "retry": retry_class(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            "health_check_interval": 30,
        }

    def _entry(self) -> tuple[aioredis.Redis, dict[str, AsyncScript]]:
        loop = asyncio.get_running_loop()
        entry = self._loops.get(id(loop))
        if entry is None or entry[0] is not loop:
            self._loops = {k: v for k, v in self._loops.items() if not v[0].is_closed()}
            client = aioredis.Redis.from_url(self.url, **self._options(asynchronous=True))
            scripts = {name: client.register_script(src) for name, src in self._sources.items()}
            entry = (loop, client, scripts)
            self._loops[id(loop)] = entry
        return entry[1], entry[2]

    def client(self) -> aioredis.Redis:
        return self._entry()[0]

    async def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._entry()[1][script](keys=list(keys), args=list(args))

    def sync_client(self) -> redis.Redis:
        if self._sync is None:
            client = redis.Redis.from_url(self.url, **self._options(asynchronous=False))
            self._sync = (
                client,
                {name: client.register_script(src) for name, src in self._sources.items()},
            )
        return self._sync[0]

    def run_sync(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        self.sync_client()
        assert self._sync is not None
        return self._sync[1][script](keys=list(keys), args=list(args))

    async def close(self) -> None:
        """Close the current loop's client (tests and tools; Rasa never closes stores)."""
        entry = self._loops.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry[1].close(close_connection_pool=True)
        if self._sync is not None:
            self._sync[0].close()
            self._sync = None
