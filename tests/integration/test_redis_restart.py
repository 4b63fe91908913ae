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
    post_message,
    save_datasets,
    send,
    start_stack,
    uploaded_message,
    wait_until,
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

    # The replicas reconnect on their next command; probe until every replica answers.
    probe = f"probe-{uuid.uuid4().hex[:8]}"
    streak = {"ok": 0}

    def probe_ok() -> bool:
        status = post_message(own_stack.web_url, probe, "hello", timeout=60).status
        streak["ok"] = streak["ok"] + 1 if status == 200 else 0
        return streak["ok"] >= 2 * len(own_stack.replica_urls)

    wait_until(probe_ok, timeout=60, interval=0.5, what="the stack to answer again")

    for sender in senders:
        for text, _ in during:
            send(own_stack.web_url, sender, text)
    for index, sender in enumerate(senders):
        tracker = fetch_tracker(own_stack.replica_urls[index % 2], sender)
        texts = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
        expected = [uploaded_message(dataset_ids[sender])] + [t for t, _ in ANALYST_STEPS]
        assert texts == expected, f"{sender}: {texts}"
        slots = {n: tracker["slots"].get(n) for n in ("state", "confirmed")}
        slots |= {n: tracker["slots"].get(n) for n in ("facility_level", "age_group")}
        assert slots == {
            "state": "Adamawa",
            "confirmed": True,
            "facility_level": "primary",
            "age_group": "u5",
        }
    for name, pid in pids.items():
        assert own_stack.pid_of(name) == pid, f"{name} restarted"
