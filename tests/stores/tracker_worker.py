"""A separate process (= a Rasa replica) saving turns of one conversation without a lock.

`python -m tests.stores.tracker_worker URL CONVERSATION NAME TURNS PROCESSES [stock]`: waits
until all PROCESSES are ready, then TURNS times loads the conversation, adds a user message
and a bot reply, and saves. `stock` uses Rasa's RedisTrackerStore instead (to show the race).
"""

from __future__ import annotations

import asyncio
import sys

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from redis_stores.tracker_store import AppendOnlyRedisTrackerStore
from tests.stores.worker_start import host_and_port, start_together


async def main(url: str, conversation: str, name: str, turns: int, processes: int, stock: bool):
    if stock:
        host, port = host_and_port(url)
        store = RedisTrackerStore(Domain.empty(), host=host, port=port)
    else:
        store = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=url)
    probe = await start_together(url, processes)
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
