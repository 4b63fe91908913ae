"""Redis lost after the lock: the turn answers 503 and changes nothing.

The lock store and the tracker store use two private redis-servers, so the tracker's Redis
can die while the lock is taken and held: exactly "between lock and tracker read". Stock
Rasa (FailSafeTrackerStore) would then answer 200 from a brand-new conversation kept only in
memory; our tracker store records the failed load for the turn (`watching_store_errors`),
refuses to save it, and our REST channel answers 503."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import PrivateRedis
from tests.integration.conftest import require_model
from tests.integration.stack import (
    RunningStack,
    fetch_tracker,
    post_message,
    start_stack,
    user_texts,
)

pytestmark = pytest.mark.integration


@pytest.fixture()
def split_stack(tmp_path: Path) -> Iterator[tuple[RunningStack, PrivateRedis]]:
    require_model()
    lock_redis = PrivateRedis(tmp_path / "lock-redis").start()
    tracker_redis = PrivateRedis(tmp_path / "tracker-redis").start()
    endpoints = tmp_path / "endpoints-split.yml"
    endpoints.write_text(
        "action_endpoint:\n  url: ${ACTION_ENDPOINT_URL}\n"
        "tracker_store:\n  type: redis_stores.tracker_store.AppendOnlyRedisTrackerStore\n"
        f"  url: {tracker_redis.url}\n"
        "lock_store:\n  type: redis_stores.lock_store.AtomicRedisLockStore\n"
        f"  url: {lock_redis.url}\n  socket_timeout: 5\n"
    )
    stack = None
    try:
        stack = start_stack(
            tmp_path / "stack", replicas=1, redis_url=lock_redis.url, endpoints=endpoints
        )
        yield stack, tracker_redis
    finally:
        if stack is not None:
            stack.down()
        tracker_redis.stop()
        lock_redis.stop()


def test_tracker_redis_killed_after_the_lock_answers_503_and_keeps_the_conversation(
    split_stack: tuple[RunningStack, PrivateRedis],
) -> None:
    stack, tracker_redis = split_stack
    replica = stack.replica_urls[0]
    sender = f"lost-{uuid.uuid4().hex[:8]}"
    assert post_message(stack.web_url, sender, "hello").status == 200
    assert post_message(stack.web_url, sender, "help").status == 200
    before = fetch_tracker(replica, sender)["events"]

    tracker_redis.kill()
    message_id = uuid.uuid4().hex
    lost = send_with_id(stack.web_url, sender, "help", message_id)
    assert lost.status_code == 503 and "unavailable" in lost.json()["error"]
    streamed = requests.post(
        f"{stack.web_url}/webhooks/rest/webhook?stream=true",
        json={"sender": sender, "message": "help"},
        timeout=120,
    )
    assert streamed.status_code == 503  # failed before its first line: still a 503

    tracker_redis.start()  # same port and AOF directory
    assert fetch_tracker(replica, sender)["events"] == before

    # The widget's Retry (same message_id) is processed now: the failed turn left no claim.
    again = send_with_id(stack.web_url, sender, "help", message_id)
    assert again.status_code == 200 and again.json()
    after = fetch_tracker(replica, sender)
    assert after["events"][: len(before)] == before
    assert user_texts(after) == ["hello", "help", "help"]
    starts = [e for e in after["events"] if e.get("name") == "action_session_start"]
    assert len(starts) == len([e for e in before if e.get("name") == "action_session_start"])


def send_with_id(web_url: str, sender: str, text: str, message_id: str) -> requests.Response:
    return requests.post(
        f"{web_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text, "metadata": {"message_id": message_id}},
        timeout=120,
    )
