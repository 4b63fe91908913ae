"""The stores' metrics, counted where the events happen: failed Redis calls in the connection
factory (under the store's label, whichever command failed), lock waits in the lock store.
A real private Redis, killed for the failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered

from redis_stores._redis import RedisConnector
from redis_stores.lock_store import AtomicRedisLockStore
from redis_stores.tracker_store import AppendOnlyRedisTrackerStore
from tests.helpers import PrivateRedis


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def errors(store: str) -> float:
    return REGISTRY.get_sample_value("tpr_redis_errors_total", {"store": store}) or 0.0


def lock_waits() -> float:
    return REGISTRY.get_sample_value("tpr_lock_wait_seconds_count") or 0.0


async def test_working_calls_count_nothing_and_each_failed_call_counts_once(
    private_redis: PrivateRedis,
) -> None:
    connector = RedisConnector(private_redis.url, {"one": "return 1"}, store="unit-a")
    client = connector.client()
    assert errors("unit-a") == 0  # the series exists before any error
    await client.set("k", "v")
    assert await client.get("k") == b"v"
    # A script the server does not know yet: EVALSHA fails with NOSCRIPT, EVAL follows.
    # That is the normal path, not a failed call.
    await client.script_flush()
    assert await connector.run("one", [], []) == 1
    # Pipelines, in both styles the stores use.
    async with client.pipeline(transaction=True) as pipe:
        pipe.set("a", "1")
        pipe.incr("a")
        assert await pipe.execute() == [True, 2]
    assert await connector.pipeline(lambda pipe: (pipe.get("a"), pipe.get("k"))) == [b"2", b"v"]
    assert errors("unit-a") == 0

    with pytest.raises(Exception):  # noqa: B017 - a wrong-type reply from Redis itself
        await client.incr("k")
    assert errors("unit-a") == 1

    private_redis.kill()
    with pytest.raises(Exception):  # noqa: B017 - connection refused
        await client.get("k")
    with pytest.raises(Exception):  # noqa: B017
        await connector.pipeline(lambda pipe: pipe.get("k"))
    assert errors("unit-a") >= 3
    await connector.close()


async def test_the_tracker_store_counts_under_its_own_label(private_redis: PrivateRedis) -> None:
    trackers = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=private_redis.url)
    tracker = await trackers.get_or_create_tracker("ann", append_action_listen=False)
    tracker.update_with_events([ActionExecuted("action_session_start"), SessionStarted()], None)
    await trackers.save(tracker)
    before, locks_before = errors("tracker"), errors("lock")
    private_redis.kill()
    tracker.update(UserUttered("lost"))
    with pytest.raises(Exception):  # noqa: B017 - connection refused
        await trackers.save(tracker)
    assert errors("tracker") > before
    assert errors("lock") == locks_before


async def test_every_lock_taken_is_one_lock_wait(private_redis: PrivateRedis) -> None:
    locks = AtomicRedisLockStore(url=private_redis.url, lock_lifetime=30)
    before = lock_waits()
    held = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.lock("bob"):
            held.set()
            await release.wait()

    async def second() -> float:
        await held.wait()
        started = asyncio.get_running_loop().time()
        async with locks.lock("bob"):
            return asyncio.get_running_loop().time() - started

    holder = asyncio.create_task(first())
    waiter = asyncio.create_task(second())
    await held.wait()
    await asyncio.sleep(0.5)
    release.set()
    await holder
    waited = await waiter
    assert waited >= 0.5
    assert lock_waits() == before + 2
    # The second wait (>= 0.5 s) is in a bucket at or above 0.5 s.
    below_half = REGISTRY.get_sample_value("tpr_lock_wait_seconds_bucket", {"le": "0.25"})
    total = REGISTRY.get_sample_value("tpr_lock_wait_seconds_bucket", {"le": "+Inf"})
    assert total - below_half >= 1
