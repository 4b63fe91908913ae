"""Racing messages: 8 at once to each of 30 conversations, spread over 3 replicas by nginx.

Stock Rasa 3.6.21 with a Redis lock store and tracker store hung requests and lost user
messages under exactly this load. Every request must return, every user message must be in the
tracker exactly once, and each must be answered before the next one is processed (the lock
serialises a conversation across replicas).
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.stack import (
    Reply,
    RunningStack,
    fetch_tracker,
    post_message,
    save_datasets,
    send,
    uploaded_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

CONVERSATIONS = 30
CONCURRENT_CONVERSATIONS = 10  # x 8 messages = 80 requests in flight
RACING_MESSAGES = [
    "Adamawa State",
    "help",
    "status",
    "where am I",
    "yes",
    "Primary",
    "Under 5",
    "what can you do",
]
REQUEST_TIMEOUT = 300


def race(stack: RunningStack, sender: str) -> list[Reply]:
    """Send RACING_MESSAGES to one conversation all at once (released by a barrier)."""
    barrier = threading.Barrier(len(RACING_MESSAGES))

    def fire(text: str) -> Reply:
        barrier.wait()
        return post_message(stack.web_url, sender, text, timeout=REQUEST_TIMEOUT)

    with ThreadPoolExecutor(len(RACING_MESSAGES)) as pool:
        return list(pool.map(fire, RACING_MESSAGES))


def ordering_problems(events: list[dict]) -> list[str]:
    """User events not answered by a bot event before the next user event."""
    problems = []
    pending: str | None = None
    for event in events:
        if event.get("event") == "user":
            if pending is not None:
                problems.append(f"{pending!r} had no reply before the next user message")
            pending = event.get("text")
        elif event.get("event") == "bot":
            pending = None
    if pending is not None:
        problems.append(f"{pending!r} (last) had no reply")
    return problems


def test_concurrent_messages_are_serialised(stack_in_each_redis_mode: RunningStack) -> None:
    shared_stack = stack_in_each_redis_mode
    senders = [f"race-{uuid.uuid4().hex[:8]}-{i}" for i in range(CONVERSATIONS)]
    dataset_ids = save_datasets(shared_stack.redis_url, senders)
    for sender in senders:  # the upload message first, as the widget sends it
        send(shared_stack.web_url, sender, uploaded_message(dataset_ids[sender]))

    with ThreadPoolExecutor(CONCURRENT_CONVERSATIONS) as pool:
        replies = dict(
            zip(senders, pool.map(lambda s: race(shared_stack, s), senders), strict=True)
        )

    failed = {
        sender: [r.status for r in rs if r.status != 200]
        for sender, rs in replies.items()
        if any(r.status != 200 for r in rs)
    }
    assert not failed, f"requests that did not return 200: {failed}"
    served = {r.served_by for rs in replies.values() for r in rs}
    assert len(served) == len(shared_stack.replica_urls), f"replicas used: {served}"

    for index, sender in enumerate(senders):
        tracker = fetch_tracker(shared_stack.replica_urls[index % 3], sender)
        texts = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
        expected = [uploaded_message(dataset_ids[sender]), *RACING_MESSAGES]
        assert sorted(texts) == sorted(expected), (
            f"{sender}: user messages in the tracker {texts}, expected each of {expected} once"
        )
        assert texts[0] == expected[0]
        problems = ordering_problems(tracker["events"])
        assert not problems, f"{sender}: {problems}"
