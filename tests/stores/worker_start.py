"""What the worker processes (lock_worker, tracker_worker) share: where the stock store
connects, and a start barrier so that every "replica" begins at once and really races."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis


def host_and_port(url: str) -> tuple[str, int]:
    """`redis://127.0.0.1:6379/0` -> ("127.0.0.1", 6379), for Rasa's stock stores."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    return host, int(port)


async def start_together(url: str, processes: int, timeout: float = 60.0) -> aioredis.Redis:
    """Count this worker in, wait until all `processes` workers have; returns the client
    the worker goes on recording with (the caller closes it)."""
    probe = aioredis.Redis.from_url(url)
    await probe.incr("probe:ready")
    deadline = time.monotonic() + timeout
    while int(await probe.get("probe:ready") or 0) < processes:
        if time.monotonic() > deadline:
            raise SystemExit("other workers never started")
        await asyncio.sleep(0.02)
    return probe
