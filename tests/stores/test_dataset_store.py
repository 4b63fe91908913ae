"""DatasetStore and ResultFileStore against a real (private) Redis."""

from __future__ import annotations

import asyncio
import time

import pandas as pd
import pytest
import redis

from actions.service.dataset_store import (
    DatasetNotFound,
    DatasetStore,
    ResultFileStore,
    ResultNotFound,
)
from actions.tpr import Dataset


def make_dataset(wards: int = 3, tag: str = "a") -> object:
    frame = pd.DataFrame(
        {
            "state": ["Adamawa"] * wards,
            "ward": [f"{tag}-ward-{i}" for i in range(wards)],
            "rdt_tested_u5": list(range(wards)),
        }
    )
    return Dataset(frame=frame, meta={"layout": "A", "source_name": f"{tag}.xlsx"})


def make_store(url: str, **kwargs) -> DatasetStore:
    return DatasetStore(redis_url=url, decode=Dataset.from_bytes, **kwargs)


async def wait_until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_round_trip_in_a_fresh_process_view(redis_url: str) -> None:
    writer = make_store(redis_url)
    reader = make_store(redis_url)  # another action server process: empty cache
    dataset = make_dataset(5)
    dataset_id = await writer.save("alice", dataset, {"rows": 5, "states": ["Adamawa"]})
    assert len(dataset_id) >= 40
    loaded = await reader.load(dataset_id, owner="alice")
    pd.testing.assert_frame_equal(loaded.frame, dataset.frame)
    assert loaded.meta["source_name"] == "a.xlsx"
    assert await reader.load_summary(dataset_id, owner="alice") == {
        "rows": 5,
        "states": ["Adamawa"],
    }


async def test_ids_are_unique_and_unguessable(redis_url: str) -> None:
    store = make_store(redis_url)
    ids = {await store.save("alice", make_dataset(1), {}) for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 40 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


async def test_foreign_owner_and_missing_id_look_the_same(redis_url: str) -> None:
    store = make_store(redis_url)
    dataset_id = await store.save("alice", make_dataset(), {"rows": 3})
    with pytest.raises(DatasetNotFound) as foreign:
        await store.load(dataset_id, owner="mallory")
    with pytest.raises(DatasetNotFound) as foreign_summary:
        await store.load_summary(dataset_id, owner="mallory")
    with pytest.raises(DatasetNotFound) as missing:
        await store.load("x" * 43, owner="alice")
    with pytest.raises(DatasetNotFound) as malformed:
        await store.load("../../etc", owner="alice")
    messages = {str(e.value) for e in (foreign, foreign_summary, missing, malformed)}
    assert len(messages) == 1
    # The owner still gets it, even though the cache was warm when the stranger asked.
    assert (await store.load(dataset_id, owner="alice")).meta["layout"] == "A"


async def test_keys_and_ttl_follow_the_contract(redis_url: str) -> None:
    store = make_store(redis_url, ttl_seconds=3600)
    dataset_id = await store.save("alice", make_dataset(), {"rows": 3})
    client = redis.Redis.from_url(redis_url)
    try:
        assert 3590 <= client.ttl(f"tpr:dataset:{{{dataset_id}}}") <= 3600
        assert 3590 <= client.ttl(f"tpr:dataset:{{{dataset_id}}}:meta") <= 3600
        assert client.hget(f"tpr:dataset:{{{dataset_id}}}:meta", "owner") == b"alice"
    finally:
        client.close()


async def test_expired_dataset_is_not_served_from_cache(redis_url: str) -> None:
    store = make_store(redis_url, ttl_seconds=1)
    dataset_id = await store.save("alice", make_dataset(), {})
    assert await store.load(dataset_id, owner="alice") is not None  # cached now

    async def gone() -> bool:
        try:
            await store.load(dataset_id, owner="alice")
        except DatasetNotFound:
            return True
        return False

    await wait_until(gone)


async def test_deleted_key_invalidates_every_process_cache(redis_url: str) -> None:
    store_a, store_b = make_store(redis_url), make_store(redis_url)
    dataset_id = await store_a.save("alice", make_dataset(), {})
    await store_b.load(dataset_id, owner="alice")  # both caches warm
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(f"tpr:dataset:{{{dataset_id}}}")  # e.g. evicted; meta still there
    finally:
        client.close()
    for store in (store_a, store_b):
        with pytest.raises(DatasetNotFound):
            await store.load(dataset_id, owner="alice")


async def test_cache_serves_same_bytes_and_reloads_changed_ones(redis_url: str) -> None:
    store = make_store(redis_url)
    dataset_id = await store.save("alice", make_dataset(tag="old"), {})
    first = await store.load(dataset_id, owner="alice")
    assert await store.load(dataset_id, owner="alice") is first  # cache hit
    # Another process rewrites the dataset under the same id (new bytes, new digest).
    other = make_store(redis_url)
    replacement_id = await other.save("alice", make_dataset(tag="new"), {})
    client = redis.Redis.from_url(redis_url)
    try:
        client.copy(
            f"tpr:dataset:{{{replacement_id}}}", f"tpr:dataset:{{{dataset_id}}}", replace=True
        )
        new_digest = client.hget(f"tpr:dataset:{{{replacement_id}}}:meta", "digest")
        client.hset(f"tpr:dataset:{{{dataset_id}}}:meta", "digest", new_digest)
    finally:
        client.close()
    reloaded = await store.load(dataset_id, owner="alice")
    assert reloaded is not first
    assert reloaded.meta["source_name"] == "new.xlsx"


async def test_cache_is_bounded(redis_url: str) -> None:
    store = make_store(redis_url, cache_size=2)
    ids = [await store.save("alice", make_dataset(tag=str(i)), {}) for i in range(4)]
    for dataset_id in ids:
        await store.load(dataset_id, owner="alice")
    assert len(store._cache) == 2
    assert list(store._cache) == ids[-2:]


async def test_delete_by_owner_only(redis_url: str) -> None:
    store = make_store(redis_url)
    dataset_id = await store.save("alice", make_dataset(), {})
    with pytest.raises(DatasetNotFound):
        await store.delete(dataset_id, owner="mallory")
    await store.load(dataset_id, owner="alice")
    await store.delete(dataset_id, owner="alice")
    with pytest.raises(DatasetNotFound):
        await store.load(dataset_id, owner="alice")


async def test_result_file_round_trip_and_unknown_token(redis_url: str) -> None:
    files = ResultFileStore(redis_url=redis_url, ttl_seconds=600)
    token = await files.save("alice", "tpr_adamawa_primary_u5.csv", "text/csv", b"ward,tpr\n")
    stored = await ResultFileStore(redis_url=redis_url).load(token)
    assert (stored.filename, stored.content_type, stored.data, stored.owner) == (
        "tpr_adamawa_primary_u5.csv",
        "text/csv",
        b"ward,tpr\n",
        "alice",
    )
    client = redis.Redis.from_url(redis_url)
    try:
        assert 590 <= client.ttl(f"tpr:result:{{{token}}}") <= 600
    finally:
        client.close()
    for bad in ("A" * 43, "short", "../x", ""):
        with pytest.raises(ResultNotFound):
            await files.load(bad)


async def test_result_file_expires(redis_url: str) -> None:
    files = ResultFileStore(redis_url=redis_url, ttl_seconds=1)
    token = await files.save("alice", "a.xlsx", "application/octet-stream", b"\x00\x01")
    assert (await files.load(token)).data == b"\x00\x01"

    async def gone() -> bool:
        try:
            await files.load(token)
        except ResultNotFound:
            return True
        return False

    await wait_until(gone)


def test_from_env_reads_ttls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DATASET_TTL_SECONDS", "120")
    monkeypatch.setenv("RESULT_TTL_SECONDS", "60")
    assert DatasetStore.from_env().ttl_seconds == 120
    assert ResultFileStore.from_env().ttl_seconds == 60
    monkeypatch.delenv("DATASET_TTL_SECONDS")
    monkeypatch.delenv("RESULT_TTL_SECONDS")
    assert DatasetStore.from_env().ttl_seconds == 7 * 24 * 3600
    assert ResultFileStore.from_env().ttl_seconds == 24 * 3600
