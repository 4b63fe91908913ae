"""Redis dies: every store fails fast (no hang), then recovers by itself on restart, with
what was written before the crash intact (AOF)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered

from actions.service.dataset_store import ResultFileStore
from redis_stores.lock_store import AtomicRedisLockStore
from redis_stores.tracker_store import AppendOnlyRedisTrackerStore
from tests.helpers import PrivateRedis
from tests.stores.test_dataset_store import make_dataset, make_store

# The stores use 2 s connect/read timeouts; allow for a loaded CI machine.
FAIL_FAST_SECONDS = 8.0


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


async def fails_fast(operation: Callable[[], Awaitable[object]]) -> float:
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - any error is fine, a hang is not
        await asyncio.wait_for(operation(), timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < FAIL_FAST_SECONDS
    return elapsed


async def take_lock(store: AtomicRedisLockStore, conversation: str) -> None:
    async with store.lock(conversation):
        pass


async def test_stores_fail_fast_while_redis_is_down_and_recover(
    private_redis: PrivateRedis,
) -> None:
    url = private_redis.url
    locks = AtomicRedisLockStore(url=url, lock_lifetime=60)
    trackers = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=url)
    files = ResultFileStore(redis_url=url)

    tracker = await trackers.get_or_create_tracker("ann", append_action_listen=False)
    tracker.update_with_events(
        [ActionExecuted("action_session_start"), SessionStarted(), UserUttered("before")], None
    )
    await trackers.save(tracker)
    token = await files.save("ann", "r.csv", "text/csv", b"x")

    # Redis dies while a message holds the conversation's lock.
    async with locks.lock("ann"):
        private_redis.kill()
        tracker.update(UserUttered("lost with the crash"))
        await fails_fast(lambda: trackers.save(tracker))
    # (the release failed; it is retried in the background)

    await fails_fast(lambda: take_lock(locks, "ann"))
    await fails_fast(lambda: trackers.retrieve("ann"))
    await fails_fast(lambda: trackers.keys())
    await fails_fast(lambda: files.load(token))

    private_redis.start()  # same port, same AOF

    # Same store objects, no restart of the "replica": they reconnect by themselves. The
    # held ticket was released after the restart, so nobody waits for its 60 s lifetime.
    await asyncio.wait_for(take_lock(locks, "ann"), timeout=20)
    reloaded = await trackers.retrieve("ann")
    assert [e.text for e in reloaded.events if isinstance(e, UserUttered)] == ["before"]
    assert (await files.load(token)).data == b"x"
    reloaded.update(UserUttered("after"))
    await trackers.save(reloaded)
    texts = [e.text for e in (await trackers.retrieve("ann")).events if hasattr(e, "text")]
    assert texts[-2:] == ["before", "after"]


async def test_an_unresponsive_redis_times_out_instead_of_hanging(
    private_redis: PrivateRedis,
) -> None:
    """SIGSTOP: connections are accepted but never answered (a hung or partitioned Redis)."""
    import signal

    url = private_redis.url
    locks = AtomicRedisLockStore(url=url)
    trackers = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=url)
    assert private_redis.process is not None
    private_redis.process.send_signal(signal.SIGSTOP)
    try:
        assert await fails_fast(lambda: take_lock(locks, "bea")) >= 1.0
        await fails_fast(lambda: trackers.retrieve("bea"))
    finally:
        private_redis.process.send_signal(signal.SIGCONT)
    await asyncio.wait_for(take_lock(locks, "bea"), timeout=20)
    assert await trackers.retrieve("bea") is None


async def test_first_calls_after_a_restart_succeed_on_stale_pooled_connections(
    private_redis: PrivateRedis,
) -> None:
    """After a restart every pooled connection is dead. The first command on each must not
    fail: Rasa's FailSafeTrackerStore would take a failed retrieve for a new conversation."""
    from actions.service.dataset_store import DatasetStore

    url = private_redis.url
    locks = AtomicRedisLockStore(url=url)
    trackers = AppendOnlyRedisTrackerStore(domain=Domain.empty(), host=url)
    files = ResultFileStore(redis_url=url)
    datasets = DatasetStore(redis_url=url)
    tracker = await trackers.get_or_create_tracker("cy", append_action_listen=False)
    tracker.update_with_events([ActionExecuted("action_session_start"), SessionStarted()], None)
    await trackers.save(tracker)
    token = await files.save("cy", "r.csv", "text/csv", b"x")
    # Several pooled connections per store, all idle when Redis goes away.
    await asyncio.gather(*(take_lock(locks, f"c{i}") for i in range(5)))
    await asyncio.gather(*(trackers.retrieve("cy") for _ in range(5)))
    await asyncio.gather(*(files.load(token) for _ in range(5)))

    private_redis.kill()
    private_redis.start()

    results = await asyncio.gather(
        *(trackers.retrieve("cy") for _ in range(5)),
        *(take_lock(locks, f"c{i}") for i in range(5)),
        *(files.load(token) for _ in range(5)),
        datasets.load_summary("x" * 43, owner="cy"),
        return_exceptions=True,
    )
    failures = [r for r in results[:-1] if isinstance(r, BaseException)]
    assert failures == []
    assert all(len(r.events) == 2 for r in results[:5])
    assert type(results[-1]).__name__ == "DatasetNotFound"


async def test_dataset_lookups_after_a_restart_succeed_on_stale_pooled_connections(
    private_redis: PrivateRedis,
) -> None:
    """The action server's first dataset lookup after a Redis restart must succeed: a failed
    lookup fails `validate_tpr_form`, and Rasa then keeps the analyst's raw, unvalidated answer
    in the slot. redis-py retries single commands but not pipelines, which these lookups are."""
    datasets = make_store(private_redis.url)
    dataset_id = await datasets.save("dee", make_dataset(), {"states": ["Adamawa"]})
    # Several pooled connections, all idle (and dead) when Redis comes back.
    await asyncio.gather(*(datasets.load_summary(dataset_id, owner="dee") for _ in range(5)))

    private_redis.kill()
    private_redis.start()  # same port, same AOF

    summaries = await asyncio.gather(
        *(datasets.load_summary(dataset_id, owner="dee") for _ in range(5))
    )
    assert summaries == [{"states": ["Adamawa"]}] * 5
    second_id = await datasets.save("dee", make_dataset(tag="b"), {"states": ["Kwara"]})
    assert await datasets.load_summary(second_id, owner="dee") == {"states": ["Kwara"]}
