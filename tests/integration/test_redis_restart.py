"""Redis restarts: while it is down requests fail fast (5xx, no hang, no crash); afterwards the
conversations resume with nothing lost (AOF with fsync always, same port, same directory).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import PrivateRedis
from tests.integration.conftest import require_model
from tests.integration.stack import (
    ANALYST_STEPS,
    RunningStack,
    fetch_tracker,
    other_replica,
    post_message,
    save_datasets,
    send,
    start_stack,
    uploaded_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

CONVERSATIONS = 6
FAIL_FAST_SECONDS = 10  # stores give up after ~2 s; generous for a loaded CI machine


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis-data").start()
    yield server
    server.stop()


@pytest.fixture()
def own_stack(private_redis: PrivateRedis, tmp_path: Path) -> Iterator[RunningStack]:
    require_model()
    stack = start_stack(tmp_path / "stack", replicas=2, redis_url=private_redis.url)
    yield stack
    stack.down()


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_outage_fails_fast_and_nothing_is_lost(
    own_stack: RunningStack, private_redis: PrivateRedis
) -> None:
    senders = [f"redis-{uuid.uuid4().hex[:8]}-{i}" for i in range(CONVERSATIONS)]
    dataset_ids = save_datasets(own_stack.redis_url, senders)
    before, during = ANALYST_STEPS[:2], ANALYST_STEPS[2:]
    for sender in senders:
        send(own_stack.web_url, sender, uploaded_message(dataset_ids[sender]))
        for text, _ in before:
            send(own_stack.web_url, sender, text)
    names = ["rasa-1", "rasa-2", "actions", "nginx"]
    pids = {name: own_stack.pid_of(name) for name in names}

    private_redis.kill()

    pending_text = during[0][0]
    with ThreadPoolExecutor(CONVERSATIONS) as pool:
        replies = list(
            pool.map(
                lambda s: post_message(own_stack.web_url, s, pending_text, timeout=60), senders
            )
        )
    for reply in replies:
        assert reply.status >= 500, f"expected a 5xx while Redis is down, got {reply.status}"
        assert reply.seconds < FAIL_FAST_SECONDS, f"took {reply.seconds:.1f} s to fail"
    for name, pid in pids.items():
        assert alive(pid) and own_stack.pid_of(name) == pid, f"{name} crashed or restarted"

    private_redis.start()  # same port, same AOF directory

    # The analyst's next message must work at once: stale pooled connections to the old
    # Redis process must neither fail it nor silently drop an action's events.
    for sender in senders:
        expected = {"dataset_id": dataset_ids[sender]}
        for _, slots in before:
            expected.update(slots)
        for turn, (text, slots) in enumerate(during):
            reply = post_message(own_stack.web_url, sender, text)
            assert reply.status == 200, f"{sender}: {text!r} after the restart -> {reply.status}"
            expected.update(slots)
            tracker = fetch_tracker(other_replica(own_stack, reply.served_by, turn), sender)
            actual = {name: tracker["slots"].get(name) for name in expected}
            assert actual == expected, f"{sender} after {text!r} (Redis restarted): {actual}"

    for index, sender in enumerate(senders):
        tracker = fetch_tracker(own_stack.replica_urls[index % 2], sender)
        texts = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
        expected_texts = [uploaded_message(dataset_ids[sender])] + [t for t, _ in ANALYST_STEPS]
        assert texts == expected_texts, f"{sender}: user messages {texts}"
    for name, pid in pids.items():
        assert own_stack.pid_of(name) == pid, f"{name} restarted"
