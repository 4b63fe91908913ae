"""Redis failover under live conversations, with the stack on top.

Ten conversations run halfway; then, while their next turns are in flight, the Redis
primary is SIGKILLed: under Sentinel (a primary, a replica, three sentinels) and on a Redis
Cluster (a shard's primary, replaced by its replica). The stores must follow the new
primary by themselves. Clients retry a 503 (or a dropped request), as the widget lets the
analyst do. Afterwards every conversation is finished, every slot is right, every turn that
was acknowledged (HTTP 200) is in its tracker, and the results file is the engine's own.
Both stacks run with REDIS_MIN_REPLICAS_ACK=1: no acknowledged turn may be lost. (How many
are lost without WAIT is measured by bench/turns.py.) The killed server is restarted, as its
supervisor would, and rejoins as a replica.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.helpers import PrivateCluster, PrivateSentinel, RedisProcess
from tests.integration.conftest import require_model
from tests.integration.stack import (
    ANALYST_STEPS,
    RunningStack,
    fetch_tracker,
    sample_dataset,
    save_datasets,
    start_stack,
    uploaded_message,
    user_texts,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CONVERSATIONS = 10
RETRY_FOR_SECONDS = 90


@dataclass
class Conversation:
    sender: str
    dataset_id: str
    acknowledged: list[str] = field(default_factory=list)
    retries: int = 0
    last_reply: list[dict[str, Any]] = field(default_factory=list)


def say_until_answered(stack: RunningStack, chat: Conversation, text: str) -> None:
    """POST until HTTP 200; a 503 or a dropped request during the failover is retried."""
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while True:
        try:
            response = requests.post(
                f"{stack.web_url}/webhooks/rest/webhook",
                json={"sender": chat.sender, "message": text},
                timeout=60,
            )
            if response.status_code == 200:
                chat.acknowledged.append(text)
                chat.last_reply = response.json()
                return
            assert response.status_code in (502, 503, 504), (
                f"{chat.sender} {text!r}: HTTP {response.status_code} {response.text[:200]}"
            )
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{chat.sender} {text!r}: no answer after failover"
        chat.retries += 1
        time.sleep(0.5)


def run_failover(
    stack: RunningStack, kill: Callable[[], float], recover: Callable[[], None]
) -> tuple[list[Conversation], float]:
    """Conversations halfway, `kill` during their next turns, then finish them all.
    Returns the conversations and the seconds from the kill to the first 200 after it."""
    senders = [f"failover-{uuid.uuid4().hex[:8]}-{i}" for i in range(CONVERSATIONS)]
    ids = save_datasets(stack.redis_url, senders)
    chats = [Conversation(s, ids[s]) for s in senders]
    with ThreadPoolExecutor(CONVERSATIONS) as pool:
        list(
            pool.map(lambda c: say_until_answered(stack, c, uploaded_message(c.dataset_id)), chats)
        )
        list(pool.map(lambda c: say_until_answered(stack, c, ANALYST_STEPS[0][0]), chats))
    assert all(chat.retries == 0 for chat in chats), "503s before the failover"

    killed_at: list[float] = []
    first_answer_after: list[float] = []
    lock = threading.Lock()

    def finish(chat: Conversation) -> None:
        for text, _ in ANALYST_STEPS[1:]:
            say_until_answered(stack, chat, text)
            with lock:
                if killed_at and not first_answer_after:
                    first_answer_after.append(time.monotonic())

    with ThreadPoolExecutor(CONVERSATIONS + 1) as pool:
        jobs = [pool.submit(finish, chat) for chat in chats]
        time.sleep(0.3)  # turns in flight
        killed_at.append(kill())
        recover()
        for job in jobs:
            job.result()
    return chats, first_answer_after[0] - killed_at[0]


def check_conversations(stack: RunningStack, chats: list[Conversation]) -> None:
    from actions.tpr import Selection, compute_tpr  # noqa: PLC0415
    from actions.tpr.export import result_to_csv_bytes  # noqa: PLC0415

    expected_csv = result_to_csv_bytes(
        compute_tpr(
            sample_dataset()[0],
            Selection(state="Adamawa", facility_level="primary", age_group="u5"),
        )
    )
    expected_slots: dict[str, Any] = {}
    for _, slots in ANALYST_STEPS:
        expected_slots.update(slots)
    for index, chat in enumerate(chats):
        tracker = fetch_tracker(stack.replica_urls[index % len(stack.replica_urls)], chat.sender)
        stored = user_texts(tracker)
        missing = [text for text in chat.acknowledged if text not in stored]
        assert not missing, f"{chat.sender}: acknowledged turns lost {missing}; stored {stored}"
        slots = {name: tracker["slots"].get(name) for name in [*expected_slots, "dataset_id"]}
        assert slots == {**expected_slots, "dataset_id": chat.dataset_id}, chat.sender
        body = "\n".join(m.get("text") or "" for m in chat.last_reply)
        links = [w for w in body.split() if w.startswith("/api/download/")]  # CSV, then XLSX
        assert links, f"{chat.sender}: no results after the last step: {body[:300]}"
        response = requests.get(stack.web_url + links[0], timeout=60)
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows == list(csv.reader(io.StringIO(expected_csv.decode("utf-8-sig"))))


# --- Sentinel --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentinel_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningStack, PrivateSentinel]]:
    require_model()
    group = PrivateSentinel(tmp_path_factory.mktemp("failover-sentinel")).start()
    env = {
        **group.env,
        "REDIS_MIN_REPLICAS_ACK": "1",
        "REDIS_WAIT_MS": "1000",
        "LOCK_LIFETIME_SECONDS": "15",
    }
    try:
        stack = start_stack(tmp_path_factory.mktemp("sentinel-stack"), replicas=2, env=env)
    except BaseException:
        group.stop()
        raise
    yield stack, group
    try:
        stack.down()
    finally:
        group.stop()


def test_sentinel_failover_loses_no_acknowledged_turn(
    sentinel_stack: tuple[RunningStack, PrivateSentinel],
) -> None:
    stack, group = sentinel_stack
    assert stack.redis_url.startswith("redis+sentinel://")
    assert stack.pid_of("redis") is None, "the stack must not start a Redis of its own"
    old_primary = group.primary()

    def kill() -> float:
        old_primary.kill()
        return time.monotonic()

    promoted: list[RedisProcess] = []

    def recover() -> None:
        promoted.append(group.wait_for_failover(old_primary))
        old_primary.start()  # its supervisor restarts it; the sentinels make it a replica

    chats, seconds = run_failover(stack, kill, recover)
    check_conversations(stack, chats)
    # The sentinels promoted the replica (they may fail back later on a loaded machine: what
    # matters is that the conversations followed the primary and lost nothing).
    assert promoted and promoted[0] is not old_primary
    print(
        f"\nSentinel: first answered turn {seconds:.1f} s after SIGKILL; "
        f"{sum(c.retries for c in chats)} retried requests"
    )


# --- Cluster (the shared cluster stack; the node is restarted before the test ends) --------


def test_cluster_primary_replaced_by_its_replica_loses_no_acknowledged_turn(
    cluster_stack: RunningStack,
) -> None:
    cluster: PrivateCluster = cluster_stack.cluster  # type: ignore[attr-defined]
    assert cluster_stack.redis_url.startswith("redis+cluster://")
    assert cluster_stack.pid_of("redis") is None
    victim: list[RedisProcess] = []

    def kill() -> float:
        # The primary holding most of the conversations' keys.
        victim.append(cluster.primary_nodes()[0])
        victim[0].kill()
        return time.monotonic()

    def recover() -> None:
        deadline = time.monotonic() + 30
        while len(cluster.primary_nodes()) < cluster.primaries:
            assert time.monotonic() < deadline, "no replica took over"
            time.sleep(0.2)
        victim[0].start()  # rejoins as a replica of its successor
        cluster.wait_until_healthy(60)

    try:
        chats, seconds = run_failover(cluster_stack, kill, recover)
    finally:
        if victim and not victim[0].alive():
            victim[0].start()
        cluster.wait_until_healthy(60)
    check_conversations(cluster_stack, chats)
    assert victim[0] not in cluster.primary_nodes()
    print(
        f"\nCluster: first answered turn {seconds:.1f} s after SIGKILL; "
        f"{sum(c.retries for c in chats)} retried requests"
    )
