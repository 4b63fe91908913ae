"""A separate process (= a Rasa replica) taking one conversation's lock; used by the tests.

`python -m tests.stores.lock_worker URL CONVERSATION serialise N HOLD PROCESSES [stock]`: waits
until all PROCESSES are ready, then takes the lock N times concurrently, recording overlaps
and ticket order (`stock`: Rasa's RedisLockStore instead).
`python -m tests.stores.lock_worker URL CONVERSATION hold LIFETIME`: takes the lock and
holds it until killed.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from redis_stores.lock_store import AtomicRedisLockStore
from tests.stores.worker_start import host_and_port, start_together


async def serialise(
    url: str, conversation: str, count: int, hold: float, processes: int, stock: bool = False
) -> None:
    if stock:  # Rasa's RedisLockStore, to show what the tests guard against
        from rasa.core.lock_store import RedisLockStore

        host, port = host_and_port(url)
        store = RedisLockStore(host=host, port=port, db=0)
    else:
        store = AtomicRedisLockStore(url=url)
    probe = await start_together(url, processes)

    async def one() -> None:
        async with store.lock(conversation) as lock:
            if await probe.incr("probe:active") != 1:
                await probe.rpush("probe:violations", "overlap")
            await probe.rpush("probe:order", lock.tickets[0].number)
            await asyncio.sleep(hold)
            await probe.decr("probe:active")

    # `count` concurrent messages per process, as a replica handling racing requests.
    await asyncio.gather(*(one() for _ in range(count)))
    await probe.close()


async def hold(url: str, conversation: str, lifetime: float) -> None:
    store = AtomicRedisLockStore(url=url, lock_lifetime=lifetime)
    probe = aioredis.Redis.from_url(url)
    async with store.lock(conversation):
        await probe.set("probe:held", "1")
        await asyncio.sleep(3600)


if __name__ == "__main__":
    url, conversation, mode = sys.argv[1:4]
    if mode == "serialise":
        count, hold_seconds, processes = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
        stock = len(sys.argv) > 7 and sys.argv[7] == "stock"
        asyncio.run(serialise(url, conversation, count, hold_seconds, processes, stock))
    else:
        asyncio.run(hold(url, conversation, float(sys.argv[4])))
