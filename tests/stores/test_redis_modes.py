"""The one connection factory in every Redis mode: one server, TLS with a password, a
Sentinel-managed primary, a Redis Cluster. Real servers started by the tests (free ports
below 55536), stopped by PID; conversation ids are unique per test, nothing is flushed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pandas as pd
import pytest
import redis
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.service.dataset_store import DatasetStore, ResultFileStore
from actions.tpr import Dataset
from redis_stores._redis import (
    NotReplicated,
    RedisConnector,
    RedisTarget,
    durability_from_env,
    redis_answers,
    redis_url_from,
)
from redis_stores.lock_store import AtomicRedisLockStore
from redis_stores.tracker_store import AppendOnlyRedisTrackerStore, watching_store_errors
from tests.helpers import PrivateCluster, PrivateSentinel
from tests.stores.test_tracker_store import DOMAIN, as_dicts, session_start, turn


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- configuration: where to connect -------------------------------------------------------


def test_one_server_url_is_used_as_given() -> None:
    env = {"REDIS_URL": "redis://:pw@10.0.0.5:6380/2"}
    assert redis_url_from(None, env) == "redis://:pw@10.0.0.5:6380/2"
    assert redis_url_from("redis://other:6379/0", env) == "redis://other:6379/0"
    assert redis_url_from("cachehost", {}) == "redis://cachehost:6379/0"
    assert redis_url_from("${REDIS_URL}", {}) == "redis://127.0.0.1:6379/0"
    assert RedisTarget.parse("rediss://:pw@h:6380/0").mode == "single"


def test_sentinel_variables_win_and_redis_url_gives_password_db_and_tls() -> None:
    env = {
        "REDIS_URL": "rediss://:s%40cret@ignored-host:6379/3?ssl_ca_certs=/etc/ca.pem",
        "REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379,10.0.0.3:26379",
        "REDIS_SENTINEL_MASTER": "tpr",
    }
    target = RedisTarget.parse(redis_url_from(None, env))
    assert target.mode == "sentinel"
    assert target.nodes == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26379))
    assert (target.master, target.db, target.password, target.tls) == ("tpr", 3, "s@cret", True)
    assert target.tls_options == {"ssl_ca_certs": "/etc/ca.pem"}
    assert "s@cret" not in target.describe() and "cret" not in target.describe()
    # The endpoints.yml URL (REDIS_URL substituted) is the same source of password and db.
    assert redis_url_from(env["REDIS_URL"], env) == redis_url_from(None, env)


def test_cluster_variables() -> None:
    env = {"REDIS_CLUSTER_NODES": "10.0.0.1:7000,10.0.0.2:7001", "REDIS_URL": "redis://:pw@x/0"}
    target = RedisTarget.parse(redis_url_from(None, env))
    assert (target.mode, target.password) == ("cluster", "pw")
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    with pytest.raises(ValueError, match="host:port"):
        redis_url_from(None, {"REDIS_CLUSTER_NODES": "10.0.0.1"})


def test_durability_settings() -> None:
    assert durability_from_env({}) == (0, 1000)
    assert durability_from_env({"REDIS_MIN_REPLICAS_ACK": "1", "REDIS_WAIT_MS": "250"}) == (1, 250)


# --- every store in every mode ---------------------------------------------------------------


async def test_tracker_store_round_trip(any_redis_url: str) -> None:
    store = AppendOnlyRedisTrackerStore(url=any_redis_url, domain=DOMAIN)
    sender = unique("modes")
    try:
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        tracker.update_with_events([*session_start(), *turn(1)], DOMAIN)
        await store.save(tracker)
        loaded = await store.retrieve(sender)
        assert as_dicts(loaded) == as_dicts(tracker)
        assert loaded.get_slot("dataset_id") == "ds-1"
        assert sender in await store.keys()
        assert await store.exists(sender)
    finally:
        await store.close()


async def test_lock_store_serialises_in_every_mode(any_redis_url: str) -> None:
    replicas = [AtomicRedisLockStore(url=any_redis_url, lock_lifetime=10) for _ in range(2)]
    conversation = unique("lock")
    holders = 0
    order: list[int] = []

    async def hold(index: int) -> None:
        nonlocal holders
        async with replicas[index % 2].lock(conversation):
            holders += 1
            assert holders == 1, "two holders at once"
            await asyncio.sleep(0.02)
            order.append(index)
            holders -= 1

    try:
        started = time.monotonic()
        await asyncio.gather(*(hold(i) for i in range(8)))
        assert sorted(order) == list(range(8))
        # Wake-ups reach the next holder at once (no 1 s poll per hand-over).
        assert time.monotonic() - started < 4
    finally:
        for store in replicas:
            await store.close()


async def test_dataset_and_result_stores(any_redis_url: str) -> None:
    datasets = DatasetStore(redis_url=any_redis_url, decode=Dataset.from_bytes)
    results = ResultFileStore(redis_url=any_redis_url)
    frame = pd.DataFrame({"state": ["Adamawa"], "ward": ["Yola"], "rdt_tested_u5": [4]})
    try:
        dataset_id = await datasets.save("ann", Dataset(frame=frame, meta={}), {"rows": 1})
        reader = DatasetStore(redis_url=any_redis_url, decode=Dataset.from_bytes)
        pd.testing.assert_frame_equal((await reader.load(dataset_id, owner="ann")).frame, frame)
        await reader.close()
        token = await results.save("ann", "tpr.csv", "text/csv", b"ward,tpr\nYola,50.0\n")
        assert (await results.load(token)).data == b"ward,tpr\nYola,50.0\n"
    finally:
        await datasets.close()
        await results.close()


def test_health_check_in_every_mode(any_redis_url: str) -> None:
    assert redis_answers(any_redis_url)


def test_health_check_fails_fast_when_nothing_answers() -> None:
    started = time.monotonic()
    assert not redis_answers("redis+sentinel://127.0.0.1:9/tprmaster/0", timeout=1)
    assert not redis_answers("redis+cluster://127.0.0.1:9", timeout=1)
    assert not redis_answers("redis://127.0.0.1:9/0", timeout=1)
    assert time.monotonic() - started < 10


# --- Cluster ---------------------------------------------------------------------------------


async def test_cluster_spreads_conversations_and_scans_every_primary(
    redis_cluster: PrivateCluster,
) -> None:
    store = AppendOnlyRedisTrackerStore(url=redis_cluster.url, domain=DOMAIN)
    senders = [unique("spread") for _ in range(24)]
    try:
        for sender in senders:
            tracker = await store.get_or_create_tracker(sender)
            tracker.update(UserUttered("hello"))
            await store.save(tracker)
        holders = {redis_cluster.node_for_key(f"tpr:tracker:{{{s}}}:events").port for s in senders}
        assert len(holders) > 1, "every conversation on one primary"
        for node in redis_cluster.primary_nodes():  # keys really live where the map says
            found = {k.decode() for k in node.client().scan_iter("tpr:tracker:{spread-*")}
            assert all(key.endswith((":events", ":session")) for key in found)
        assert set(senders) <= set(await store.keys())
    finally:
        await store.close()


async def test_cluster_refuses_scripts_across_slots_and_ours_never_cross(
    redis_cluster: PrivateCluster,
) -> None:
    """The cluster rule our key names follow: keys of one script share a slot."""
    connector = RedisConnector(
        redis_cluster.url, {"two": "return redis.call('EXISTS', KEYS[1], KEYS[2])"}
    )
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    try:
        assert client.keyslot("tpr:lock:{c1}:queue") == client.keyslot("tpr:lock:{c1}:seq")
        assert client.keyslot("tpr:dataset:{d1}") == client.keyslot("tpr:dataset:{d1}:meta")
        assert await connector.run("two", ["x:{a}:1", "x:{a}:2"], []) == 0
        with pytest.raises(redis.exceptions.RedisClusterException):
            await connector.run("two", ["x:{a}:1", "x:{b}:2"], [])
    finally:
        client.close()
        await connector.close()


# --- Sentinel and WAIT -----------------------------------------------------------------------


async def test_sentinel_writes_go_to_the_primary_and_wait_confirms_them(
    sentinel_group: PrivateSentinel,
) -> None:
    store = AppendOnlyRedisTrackerStore(url=sentinel_group.url, domain=DOMAIN)
    store._redis.min_replicas_ack, store._redis.wait_ms = 1, 2000
    sender = unique("wait")
    try:
        tracker = await store.get_or_create_tracker(sender)
        tracker.update(UserUttered("Adamawa State"))
        await store.save(tracker)
        replica = next(s for s in sentinel_group.servers if s is not sentinel_group.primary())
        # WAIT 1 returned: the replica holds the turn the moment save() returns.
        stored = replica.client().lrange(f"tpr:tracker:{{{sender}}}:events", 0, -1)
        assert "Adamawa State" in [json.loads(raw).get("text") for raw in stored]
    finally:
        await store.close()


async def test_an_unconfirmed_save_is_undone_and_reported(
    sentinel_group: PrivateSentinel,
) -> None:
    """More replicas asked for than exist: WAIT times out, the append is undone (nothing
    half-stored), the save raises, and a turn watching its saves sees the failure even
    through Rasa's FailSafeTrackerStore, which swallows it."""
    store = AppendOnlyRedisTrackerStore(url=sentinel_group.url, domain=DOMAIN)
    sender = unique("undo")
    try:
        tracker = await store.get_or_create_tracker(sender)
        tracker.update(UserUttered("first"))
        await store.save(tracker)
        before = as_dicts(await store.retrieve(sender))
        store._redis.min_replicas_ack, store._redis.wait_ms = 2, 200
        tracker = await store.retrieve(sender)
        tracker.update_with_events([UserUttered("second"), SlotSet("state", "Kwara")], DOMAIN)
        with pytest.raises(NotReplicated):
            await store.save(tracker)
        assert as_dicts(await store.retrieve(sender)) == before
        with watching_store_errors() as failures:
            await FailSafeTrackerStore(store).save(tracker)
        assert len(failures) == 1 and isinstance(failures[0].error, NotReplicated)
        assert as_dicts(await store.retrieve(sender)) == before
        store._redis.min_replicas_ack = 1  # the client's retry, once replicas confirm
        await store.save(tracker)
        assert as_dicts(await store.retrieve(sender)) == [*before, *as_dicts(tracker)[-2:]]
    finally:
        await store.close()


# --- migration from the key names before hash tags --------------------------------------------


def legacy_conversation(client: redis.Redis, sender: str) -> list[dict]:
    """A conversation as the previous release stored it (events list + session hash)."""
    events = [e.as_dict() for e in [*session_start(), *turn(1)]]
    client.rpush(f"tpr:tracker:events:{sender}", *(json.dumps(e) for e in events))
    client.hset(f"tpr:tracker:session:{sender}", mapping={"start": 0, "save": "old"})
    client.expire(f"tpr:tracker:events:{sender}", 3600)
    return events


@pytest.mark.parametrize("mode", ["single", "sentinel"])
async def test_a_conversation_under_legacy_names_continues(
    mode: str, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("redis_server").url
        if mode == "single"
        else request.getfixturevalue("sentinel_group").url
    )
    store = AppendOnlyRedisTrackerStore(url=url, domain=DOMAIN)
    client = store._redis.sync_client()
    sender = unique("legacy")
    events = legacy_conversation(client, sender)
    try:
        assert sender in await store.keys()
        tracker = await store.retrieve(sender)
        assert as_dicts(tracker) == events
        assert tracker.get_slot("dataset_id") == "ds-1"
        tracker.update_with_events(
            [UserUttered("Kwara State"), ActionExecuted("action_listen")], DOMAIN
        )
        await store.save(tracker)
        assert not client.exists(f"tpr:tracker:events:{sender}", f"tpr:tracker:session:{sender}")
        assert client.llen(f"tpr:tracker:{{{sender}}}:events") == len(events) + 2
        assert client.ttl(f"tpr:tracker:{{{sender}}}:events") > 0
        full = await store.retrieve_full_tracker(sender)
        assert [e.get("text") for e in as_dicts(full) if e["event"] == "user"][-1] == "Kwara State"
        assert list(await store.keys()).count(sender) == 1
    finally:
        await store.close()


async def test_migrate_all_legacy_keys_once(redis_url: str, redis_cluster: PrivateCluster) -> None:
    """`migrate_legacy_keys`: atomically on one server, by copy into a cluster; idempotent."""
    single = AppendOnlyRedisTrackerStore(url=redis_url, domain=DOMAIN)
    senders = [unique("bulk") for _ in range(3)]
    stored = {s: legacy_conversation(single._redis.sync_client(), s) for s in senders}
    try:
        assert await single.migrate_legacy_keys() == {"moved": 3, "kept_both": 0}
        assert await single.migrate_legacy_keys() == {"moved": 0, "kept_both": 0}
        for sender in senders:
            assert as_dicts(await single.retrieve(sender)) == stored[sender]
    finally:
        await single.close()

    clustered = AppendOnlyRedisTrackerStore(url=redis_cluster.url, domain=DOMAIN)
    sender = unique("bulk-cluster")
    events = legacy_conversation(clustered._redis.sync_client(), sender)
    try:
        assert await clustered.retrieve(sender) is None  # a cluster cannot read both names
        counts = await clustered.migrate_legacy_keys()
        assert counts["moved"] >= 1
        assert as_dicts(await clustered.retrieve(sender)) == events
        assert (await clustered.migrate_legacy_keys())["moved"] == 0
    finally:
        await clustered.close()


def test_tracker_built_by_rasa_from_sentinel_env(
    sentinel_group: PrivateSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """endpoints.yml unchanged: REDIS_SENTINELS + REDIS_SENTINEL_MASTER select Sentinel."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name, value in sentinel_group.env.items():
        monkeypatch.setenv(name, value)
    store = AppendOnlyRedisTrackerStore(url="${REDIS_URL}", domain=DOMAIN)
    assert store._redis.target.mode == "sentinel"
    tracker = DialogueStateTracker.from_events(unique("env"), [UserUttered("hi")])
    asyncio.run(store.save(tracker))
    assert asyncio.run(store.retrieve(tracker.sender_id)) is not None


async def test_cluster_writes_wait_for_the_keys_replica_from_the_first_command(
    redis_cluster: PrivateCluster,
) -> None:
    """WAIT goes to the node that owns the key, even as a fresh client's first command (the
    slot map is not loaded yet); more replicas than exist is NotReplicated and undone."""
    results = ResultFileStore(redis_url=redis_cluster.url)
    results._clients.min_replicas_ack, results._clients.wait_ms = 1, 2000
    try:
        token = await results.save("ann", "tpr.csv", "text/csv", b"ward,tpr\n")
        assert (await results.load(token)).data == b"ward,tpr\n"
        results._clients.min_replicas_ack, results._clients.wait_ms = 2, 200

        def stored() -> set[bytes]:
            return {
                k for n in redis_cluster.primary_nodes() for k in n.client().keys("tpr:result:*")
            }

        before = stored()
        with pytest.raises(NotReplicated):
            await results.save("ann", "tpr.csv", "text/csv", b"ward,tpr\n")
        assert stored() == before, "the unconfirmed file was not deleted"
    finally:
        await results.close()
