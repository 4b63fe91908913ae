"""Store-level cost of one turn in each Redis mode, apart from Rasa's own CPU (which drowns
Redis round trips in bench/turns.py on a loaded 2-core machine).

One "turn" = what a Rasa replica does with our stores per message: take the conversation's
lock, load the current session, append the turn's events, release the lock. Measured for
20 concurrent conversations on: (1) one server, (2) Sentinel (primary, two replicas, three
sentinels), (3) Sentinel with REDIS_MIN_REPLICAS_ACK=1, (4) a 3-primary cluster (one replica
each), (5) the cluster with WAIT 1. All servers are private, on free ports, stopped by PID.
Target: p50 and p95 of (2)-(5) <= 1.3 x (1) (WAIT adds one replica round trip by design).

    .venv/bin/python bench/redis_modes.py [--turns 40] [--conversations 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered  # noqa: E402

from redis_stores.lock_store import AtomicRedisLockStore  # noqa: E402
from redis_stores.tracker_store import AppendOnlyRedisTrackerStore  # noqa: E402
from tests.helpers import PrivateCluster, PrivateRedis, PrivateSentinel  # noqa: E402
from tests.stores.test_tracker_store import DOMAIN  # noqa: E402

TARGET_RATIO = 1.3


class Mode:
    """The stores of one Redis mode, created once (as in a replica) and reused per round."""

    def __init__(self, name: str, url: str, wait: int) -> None:
        self.name = name
        self.tracker_store = AppendOnlyRedisTrackerStore(url=url, domain=DOMAIN)
        self.tracker_store._redis.min_replicas_ack = wait
        self.lock_store = AtomicRedisLockStore(url=url)
        self.seconds: list[float] = []

    async def run(self, conversations: int, turns: int, record: bool = True) -> None:
        """`turns` turns in each of `conversations` conversations, all at once."""

        async def conversation(sender: str) -> None:
            for index in range(turns):
                started = time.perf_counter()
                async with self.lock_store.lock(sender):
                    tracker = await self.tracker_store.get_or_create_tracker(sender)
                    tracker.update_with_events(
                        [
                            UserUttered(f"turn {index}", intent={"name": "inform"}),
                            SlotSet("state", f"s{index}"),
                            ActionExecuted("tpr_form"),
                            BotUttered(f"answer {index}"),
                            ActionExecuted("action_listen"),
                        ],
                        DOMAIN,
                    )
                    await self.tracker_store.save(tracker)
                if record:
                    self.seconds.append(time.perf_counter() - started)

        prefix = uuid.uuid4().hex[:6]
        await asyncio.gather(*(conversation(f"{prefix}-{i}") for i in range(conversations)))

    async def close(self) -> None:
        await self.tracker_store.close()
        await self.lock_store.close()


async def measure(specs: list[tuple[str, str, int]], conversations: int, turns: int) -> list:
    modes = [Mode(*spec) for spec in specs]
    try:
        for mode in modes:  # warm-up: connections open, scripts cached, classes loaded
            await mode.run(conversations, 3, record=False)
        rounds = 4  # modes take turns, so drifting machine load hits them alike
        for _ in range(rounds):
            for mode in modes:
                await mode.run(conversations, max(1, turns // rounds))
        return [(m.name, statistics.median(m.seconds), percentile(m.seconds, 95)) for m in modes]
    finally:
        for mode in modes:
            await mode.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per conversation")
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        single = PrivateRedis(Path(tmp) / "single", appendfsync="everysec").start()
        sentinel = PrivateSentinel(Path(tmp) / "sentinel", replicas=2).start()
        cluster = PrivateCluster(Path(tmp) / "cluster").start()
        try:
            modes = [
                ("(1) one server", single.url, 0),
                ("(2) Sentinel", sentinel.url, 0),
                ("(3) Sentinel, WAIT 1", sentinel.url, 1),
                ("(4) Cluster, 3 primaries", cluster.url, 0),
                ("(5) Cluster, WAIT 1", cluster.url, 1),
            ]
            results = asyncio.run(measure(modes, args.conversations, args.turns))
        finally:
            cluster.stop()
            sentinel.stop()
            single.stop()

    base = results[0]
    print(
        f"\nstore cost of one turn (lock, load, append, release), {args.conversations} "
        f"concurrent conversations x {args.turns} turns"
    )
    print(f"{'mode':<28}{'p50 ms':>8}{'p95 ms':>8}{'p50/1':>7}{'p95/1':>7}")
    for name, p50, p95 in results:
        ratios = f"{p50 / base[1]:>7.2f}{p95 / base[2]:>7.2f}"
        print(f"{name:<28}{p50 * 1000:>8.2f}{p95 * 1000:>8.2f}{ratios}")
    for name, p50, p95 in results[1:]:
        met = p50 <= TARGET_RATIO * base[1] and p95 <= TARGET_RATIO * base[2]
        print(f"target {name.split()[0]} <= {TARGET_RATIO} x (1): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
