"""AtomicRedisLockStore: atomic tickets, strict serialisation in ticket order across replicas
(asyncio tasks, several store instances and several processes), expiry of a dead holder."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from redis_stores.lock_store import AtomicRedisLockStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def worker(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.stores.lock_worker", *args], cwd=REPO_ROOT, env=env
    )


async def wait_for(predicate, timeout: float, interval: float = 0.05) -> float:
    """Seconds until `predicate()` is true; fails after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await predicate():
            return time.monotonic() - start
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout} s")


def test_rasa_builds_it_from_an_endpoint_config(redis_url: str) -> None:
    config = EndpointConfig(
        url=redis_url, type="redis_stores.lock_store.AtomicRedisLockStore", lock_lifetime=7
    )
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.url == redis_url
    assert store.lock_lifetime == 7


async def test_ticket_issue_is_atomic_across_replicas(redis_url: str) -> None:
    replicas = [AtomicRedisLockStore(url=redis_url) for _ in range(4)]
    tickets = await asyncio.gather(*(replicas[i % 4].issue(f"conv-{i % 2}") for i in range(200)))
    numbers = defaultdict(list)
    for i, ticket in enumerate(tickets):
        numbers[f"conv-{i % 2}"].append(int(ticket.split(":")[0]))
    for conversation in ("conv-0", "conv-1"):
        assert sorted(numbers[conversation]) == list(range(1, 101))
    assert len(set(tickets)) == 200


async def test_critical_sections_are_serialised_in_ticket_order(redis_url: str) -> None:
    replicas = [AtomicRedisLockStore(url=redis_url) for _ in range(3)]
    active: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    served: dict[str, list[int]] = defaultdict(list)

    async def message(i: int) -> None:
        conversation = f"conv-{i % 3}"
        await asyncio.sleep(random.random() * 0.05)  # messages arrive in any order
        async with replicas[i % len(replicas)].lock(conversation) as lock:
            active[conversation] += 1
            if active[conversation] > 1:
                overlaps.append(conversation)
            served[conversation].append(lock.tickets[0].number)
            await asyncio.sleep(random.random() * 0.01)
            active[conversation] -= 1

    await asyncio.wait_for(asyncio.gather(*(message(i) for i in range(60))), timeout=60)
    assert overlaps == []
    for conversation in ("conv-0", "conv-1", "conv-2"):
        assert served[conversation] == list(range(1, 21))
    # Nothing left behind: the last release removes the queue.
    assert AtomicRedisLockStore(url=redis_url).get_lock("conv-0") is None


def test_processes_are_serialised_in_ticket_order(redis_url: str) -> None:
    processes = [worker(redis_url, "shared", "serialise", "8", "0.01", "3") for _ in range(3)]
    try:
        for process in processes:
            assert process.wait(timeout=120) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    client = redis.Redis.from_url(redis_url)
    try:
        order = [int(n) for n in client.lrange("probe:order", 0, -1)]
        assert client.lrange("probe:violations", 0, -1) == []
    finally:
        client.close()
    assert order == list(range(1, 25))


async def test_a_live_slow_holder_keeps_the_lock_and_a_killed_one_expires(
    redis_url: str,
) -> None:
    lifetime = 4.0
    holder = worker(redis_url, "conv", "hold", str(lifetime))
    client = redis.asyncio.Redis.from_url(redis_url)
    store = AtomicRedisLockStore(url=redis_url, lock_lifetime=lifetime)
    try:
        await wait_for(lambda: client.exists("probe:held"), timeout=60)
        acquired = asyncio.Event()

        async def next_message() -> None:
            async with store.lock("conv"):
                acquired.set()

        waiter = asyncio.create_task(next_message())
        # The holder renews its ticket: it keeps the lock well past one lifetime.
        await asyncio.sleep(1.5 * lifetime)
        assert not acquired.is_set()
        holder.kill()
        holder.wait(timeout=10)
        killed_at = time.monotonic()
        await asyncio.wait_for(acquired.wait(), timeout=lifetime + 10)
        assert time.monotonic() - killed_at <= lifetime + 10
        await waiter
    finally:
        if holder.poll() is None:
            holder.kill()
        await client.close()


async def test_waiting_does_not_hammer_redis(redis_url: str) -> None:
    store = AtomicRedisLockStore(url=redis_url)
    client = redis.Redis.from_url(redis_url)

    def commands() -> int:
        """Round trips from clients (commands run inside our Lua scripts not counted)."""
        stats = client.info("commandstats")
        scripted = {
            "cmdstat_time",
            "cmdstat_zrange",
            "cmdstat_hget",
            "cmdstat_hexists",
            "cmdstat_hset",
            "cmdstat_hdel",
            "cmdstat_zrem",
            "cmdstat_zcard",
            "cmdstat_pexpire",
            "cmdstat_del",
            "cmdstat_lpush",
            "cmdstat_incr",
            "cmdstat_zadd",
            "cmdstat_info",
        }
        return sum(v["calls"] for k, v in stats.items() if k not in scripted)

    try:
        async with store.lock("conv"):
            waiter = asyncio.create_task(_take(store, "conv"))
            await asyncio.sleep(0.3)
            before, started = commands(), time.monotonic()
            await asyncio.sleep(3.0)
            calls, waited = commands() - before, time.monotonic() - started
        await asyncio.wait_for(waiter, timeout=10)
    finally:
        client.close()
    # One poll + one BLPOP per second at most (a 10 ms polling loop would make ~300).
    assert calls <= 2 * (waited + 2)


async def _take(store: AtomicRedisLockStore, conversation: str) -> None:
    async with store.lock(conversation):
        pass


async def test_release_wakes_the_next_holder_without_waiting_for_a_poll(redis_url: str) -> None:
    store = AtomicRedisLockStore(url=redis_url)
    woken = []
    for _ in range(3):
        async with store.lock("conv"):
            waiter = asyncio.create_task(_take(store, "conv"))
            await asyncio.sleep(0.2)  # the waiter is now blocked on its wake list
            released = time.monotonic()
        await asyncio.wait_for(waiter, timeout=10)
        woken.append(time.monotonic() - released)
    # A waiter that had to poll would take ~1 s every time; one wake-up suffices to pass.
    assert min(woken) < 0.5


async def test_an_expired_waiting_ticket_raises_lock_error(redis_url: str) -> None:
    store = AtomicRedisLockStore(url=redis_url, lock_lifetime=30)
    await store.issue("conv")  # the holder
    ticket = await store.issue("conv", lifetime=0.2)  # a waiter that stops renewing

    async def expired() -> bool:
        lock = store.get_lock("conv")  # sweeps expired tickets
        return lock is not None and [t.number for t in lock.tickets] == [1]

    await wait_for(expired, timeout=15)
    with pytest.raises(LockError):
        await store.wait_for_turn("conv", ticket)


async def test_a_retried_issue_returns_the_same_ticket(redis_url: str) -> None:
    """An issue retried after a dropped connection (same nonce) must not add a ticket that
    nobody would ever release."""
    store = AtomicRedisLockStore(url=redis_url)
    keys = store._keys("conv")
    first = await store._redis.run("issue", keys, [30000, "nonce-a"])
    assert await store._redis.run("issue", keys, [30000, "nonce-a"]) == first
    assert await store._redis.run("issue", keys, [30000, "nonce-b"]) != first
    assert [t.number for t in store.get_lock("conv").tickets] == [1, 2]


def test_synchronous_api_reflects_the_queue(redis_url: str) -> None:
    store = AtomicRedisLockStore(url=redis_url)
    first = store.issue_ticket("conv", 30)
    second = store.issue_ticket("conv", 30)
    assert (first, second) == (1, 2)
    lock = store.get_lock("conv")
    assert lock is not None and [t.number for t in lock.tickets] == [1, 2]
    assert lock.now_serving == 1 and store.is_someone_waiting("conv")
    store.cleanup("conv", 1)
    store.cleanup("conv", 2)
    assert store.get_lock("conv") is None and not store.is_someone_waiting("conv")
