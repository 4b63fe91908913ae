"""A separate process (= a Rasa replica) saving turns of one conversation without a lock.

`python -m tests.stores.tracker_worker URL CONVERSATION NAME TURNS PROCESSES [stock]`: waits
until all PROCESSES are ready, then TURNS times loads the conversation, adds a user message
and a bot reply, and saves. `stock` uses Rasa's RedisTrackerStore instead (to show the race).
"""

from __future__ import annotations

import asyncio
import sys
import time

import redis.asyncio as aioredis
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from redis_stores.tracker_store import AppendOnlyRedisTrackerStore


async def main(url: str, conversation: str, name: str, turns: int, processes: int, stock: bool):
    if stock:
        host, port = url.split("//")[1].split("/")[0].split(":")
        store = RedisTrackerStore(Domain.empty(), host=host, port=int(port))
    else:
        store = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=url)
    probe = aioredis.Redis.from_url(url)
    await probe.incr("probe:ready")
    deadline = time.monotonic() + 60
    while int(await probe.get("probe:ready") or 0) < processes:
        if time.monotonic() > deadline:
            raise SystemExit("other workers never started")
        await asyncio.sleep(0.02)
    for turn in range(turns):
        tracker = await store.get_or_create_tracker(conversation, append_action_listen=False)
        tracker.update(UserUttered(f"{name}-{turn}"))
        await asyncio.sleep(0.001)  # the turn's work: other replicas save meanwhile
        tracker.update(BotUttered(f"reply {name}-{turn}"))
        await store.save(tracker)
    await probe.close()


if __name__ == "__main__":
    url, conversation, name, turns, processes = sys.argv[1:6]
    stock = len(sys.argv) > 6 and sys.argv[6] == "stock"
    asyncio.run(main(url, conversation, name, int(turns), int(processes), stock))
